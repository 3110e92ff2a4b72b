"""The OpenAPI schema as the server really behaves (drf-spectacular's AutoSchema, extended).

Every operation lists the error statuses it can answer, each with the wire
protocol's error envelope (``ErrorEnvelopeSerializer``):

* 401 everywhere (a bad token is refused even where anonymous callers are welcome);
* 400 where the caller sends anything (a body, query or path parameters);
* 403 for writes (staff only, CSRF), 404 where a path names a row or a list is paged;
* 415 where DRF parses the body by its media type;
* and what a view declares itself with ``extend_schema(responses=...)`` (402, 409, 413, 429 where its
  admission applies a rate limit, 503, ...).

Anonymous access follows the view's ``anonymous_allowed()`` when it has one
(the router's and /api/request's policies are settings), else DRF's AllowAny.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.permissions import SAFE_METHODS

from orchestrator_common.serializer_fields import RequestIdField
from orchestrator_site.web.status_codes import codes_for_status


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="One of the wire protocol's error codes, e.g. VALIDATION_ERROR.")
    message = serializers.CharField()
    details = serializers.DictField(help_text='Depends on the code, e.g. {"field": ...} or {"retry_after_s": 1.5}.')


class ErrorEnvelopeSerializer(serializers.Serializer):
    """The wire protocol's error envelope, the body of every error response under /api/."""

    id = RequestIdField(help_text="The caller's id when the request got far enough to read it, else null.")
    status = serializers.ChoiceField(choices=["error"])
    error = ErrorBodySerializer()
    timestamp = serializers.CharField(help_text="UTC, ISO-8601, e.g. 2026-01-31T12:00:00Z.")


_MESSAGES = {
    400: "Bad input",
    401: "No valid token (or none where one is needed)",
    402: "Over a hard-capped budget",
    403: "Not allowed (staff only, or the CSRF check of a session failed)",
    404: "Not found",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type of the body",
    422: "No provider fits the request",
    429: "Rate limited (see Retry-After)",
    500: "Internal error",
    503: "Agent or orchestrator unavailable",
    504: "The agent did not answer in time",
}


def error_description(status: int) -> str:
    codes = ", ".join(codes_for_status(status))
    return f"{_MESSAGES.get(status, 'Error')}. Error envelope; error.code: {codes}."


# DRF's CharField refuses NUL (ProhibitNullCharactersValidator) where DRF validates the input (the
# model serializers; the documentation-only serializers describe bodies other code validates).
_NO_NUL_PATTERN = "^[^\\x00]*$"


class ApiAutoSchema(AutoSchema):
    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)  # a validator's own pattern (slugs) comes first
        if (
            isinstance(field, serializers.CharField)
            and isinstance(field.parent, serializers.ModelSerializer)
            and schema.get("type") == "string"
            and not {"pattern", "enum", "format"} & schema.keys()
        ):
            schema["pattern"] = _NO_NUL_PATTERN

    def _error_statuses(self) -> set[int]:
        statuses = {401}
        params = [p for p in self._get_parameters() if p.get("in") in ("query", "path")]
        has_body = self.method in ("POST", "PUT", "PATCH")
        if has_body or params:
            statuses.add(400)
        if self.method not in SAFE_METHODS:
            statuses.add(403)
        if any(p.get("in") == "path" for p in params) or self._is_paged_list():
            statuses.add(404)
        if has_body and not all(issubclass(p, JSONParser) for p in self.view.parser_classes):
            statuses.add(415)
        if has_body and self._writes_unique_model():
            statuses.add(409)
        return statuses

    def _writes_unique_model(self) -> bool:
        # A ValidationError made only of uniqueness failures is a 409 CONFLICT (web/exceptions.py).
        queryset = getattr(self.view, "queryset", None)
        model = getattr(queryset, "model", None)
        return model is not None and any(f.unique and not f.primary_key for f in model._meta.fields)

    def _is_paged_list(self) -> bool:
        return self._is_list_view() and getattr(self.view, "pagination_class", None) is not None

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for status in sorted(self._error_statuses()):
            responses.setdefault(
                str(status), self._get_response_for_code(ErrorEnvelopeSerializer, str(status), direction=direction)
            )
        for code, response in responses.items():
            if code.isdigit() and int(code) >= 400:
                response["description"] = error_description(int(code))
        return responses

    def get_auth(self) -> list[dict[str, Any]]:
        auths = super().get_auth()
        anonymous_allowed = getattr(self.view, "anonymous_allowed", None)
        if anonymous_allowed is None:
            return auths
        auths = [a for a in auths if a]
        return [*auths, {}] if anonymous_allowed() else auths
