"""Serializer fields whose schema is exactly what they accept (ids, positive numbers, strict JSON types).

drf-spectacular documents a DRF field by its class; DRF's fields accept more
than that (they coerce). These accept what their schema says and no more.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

# JSON integers the wire protocol's decoder (orjson) reads: signed 64-bit up to unsigned 64-bit.
_ID_SCHEMA = {"oneOf": [{"type": "string"}, {"type": "integer", "minimum": -(2**63), "maximum": 2**64 - 1}]}


@extend_schema_field({**_ID_SCHEMA, "nullable": True})
class RequestIdField(serializers.JSONField):
    """A request id: the caller's (a string or an integer, echoed back as given), an assigned string,
    or null (none given, or an error before the request could be read)."""


@extend_schema_field({"type": "number", "minimum": 0, "exclusiveMinimum": True})
class PositiveNumberField(serializers.FloatField):
    """A number above zero (the wire protocol's ``timeout_ms``)."""


# The JSON types each field accepts, as its schema says. DRF's fields also coerce
# (0 and "yes" for booleans, false for numbers, 5 for strings, 5.0 for decimals).
_JSON_TYPES: tuple[tuple[type[serializers.Field], tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int,), "an integer"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.DecimalField, (str,), 'a decimal string such as "12.50"'),
    (serializers.ChoiceField, (str,), "a string"),
    (serializers.CharField, (str,), "a string"),
)


def _json_type_error(field: serializers.Field, value: Any) -> str | None:
    if value is None:
        return None  # the field's own allow_null check answers
    for field_class, types, wanted in _JSON_TYPES:
        if isinstance(field, field_class):
            ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
            return None if ok else f"Must be {wanted}."
    return None


INT32 = (-(2**31), 2**31 - 1)  # what every database backend stores in an IntegerField


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose input types are exactly those of its schema.

    Integers are bounded to 32 bits (SQLite stores more, PostgreSQL would fail
    with a 500), strings are kept as sent (DRF strips them by default, so
    a name of U+0085 alone would be refused as blank although the schema allows it).
    """

    def build_standard_field(self, field_name: str, model_field: Any) -> tuple[Any, dict[str, Any]]:
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if issubclass(field_class, serializers.IntegerField):
            kwargs["min_value"] = max(kwargs.get("min_value", INT32[0]), INT32[0])
            kwargs["max_value"] = min(kwargs.get("max_value", INT32[1]), INT32[1])
        elif issubclass(field_class, serializers.CharField) and "choices" not in kwargs:
            kwargs["trim_whitespace"] = False
        return field_class, kwargs

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            errors = {
                name: [message]
                for name, field in self.fields.items()
                if not field.read_only and name in data and (message := _json_type_error(field, data[name])) is not None
            }
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)
