"""REST representations. Money leaves the API in dollars (floats); the ledger keeps nano-dollars."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from llmrouter import scoring
from llmrouter.models import (
    ENV_NAME_RE,
    HTTP_URL_PATTERN,
    Budget,
    LedgerEntry,
    Provider,
    RouteAttempt,
    RouteLog,
    validate_api_base,
    validate_capabilities,
    validate_env_name,
    validate_health_url,
    validate_zone,
)
from llmrouter.validation import MAX_INTERFACE, MAX_TASK_TYPE, MAX_TOKENS
from llmrouter.windows import available_zones
from orchestrator_common.serializer_fields import RequestIdField, StrictModelSerializer


# Dollars as decimal strings; each pattern is what DRF and the model's validators accept
# (at most 4 decimals, not negative, the model's max_digits).
@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^\d{1,8}(\.\d{0,4})?$"})
class PriceField(serializers.DecimalField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=12, decimal_places=4, min_value=Decimal(0), **kwargs)


# Optional prices: null or "" leaves the single price in force (DRF reads "" as null here).
@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^(\d{1,8}(\.\d{0,4})?)?$", "nullable": True})
class OptionalPriceField(PriceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, allow_null=True, **kwargs)


@extend_schema_field({"type": "string", "format": "decimal", "pattern": r"^\d{1,10}(\.\d{0,4})?$"})
class AmountField(serializers.DecimalField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_digits=14, decimal_places=4, min_value=Decimal(0), **kwargs)


@extend_schema_field({"type": "array", "items": {"type": "string", "minLength": 1}})
class CapabilitiesField(serializers.JSONField):
    """A JSON list of non-empty strings (the model's validate_capabilities)."""


@extend_schema_field({"type": "string", "enum": sorted(available_zones())})
class ZoneField(serializers.CharField):
    """An IANA time zone name (the model's validate_zone)."""


@extend_schema_field({"type": "string", "maxLength": 200, "pattern": HTTP_URL_PATTERN})
class HealthUrlField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_length=200,
            allow_blank=True,
            required=False,
            validators=[validate_health_url],
            **kwargs,
        )


@extend_schema_field({"type": "string", "maxLength": 300, "pattern": HTTP_URL_PATTERN})
class ApiBaseField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            max_length=300,
            allow_blank=True,
            required=False,
            validators=[validate_api_base],
            **kwargs,
        )


@extend_schema_field({"type": "string", "maxLength": 100, "pattern": ENV_NAME_RE.pattern})
class EnvNameField(serializers.CharField):
    """An environment variable's name (the model's validate_env_name): letters, digits and _."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=100, allow_blank=True, required=False, validators=[validate_env_name], **kwargs)


class ProviderSerializer(StrictModelSerializer):
    cost_per_1m = PriceField(label="Cost per 1M tokens (USD)")
    health_url = HealthUrlField(help_text="Checked by the monitor; empty: no check.")
    capabilities = CapabilitiesField(
        required=False,
        validators=[validate_capabilities],
        help_text='Task types it serves, e.g. ["coding", "reasoning"].',
    )
    api_base = ApiBaseField(help_text="e.g. https://api.openai.com/v1; empty: the gateway never calls it.")
    api_key_env = EnvNameField(help_text="The environment variable holding the key; empty: no key sent.")
    input_cost_per_1m = OptionalPriceField(label="Input cost per 1M tokens (USD)", help_text="Null: cost_per_1m.")
    output_cost_per_1m = OptionalPriceField(label="Output cost per 1M tokens (USD)", help_text="Null: cost_per_1m.")
    cached_input_cost_per_1m = OptionalPriceField(
        label="Cached input cost per 1M tokens (USD)", help_text="Null: the input price."
    )
    api_key_set = serializers.BooleanField(
        read_only=True,
        help_text=(
            "Whether the gateway can authenticate: no key variable, or it is set in the web process's environment. "
            "The key itself is never stored or shown."
        ),
    )

    class Meta:
        model = Provider
        fields = [
            "id",
            "key",
            "name",
            "cost_per_1m",
            "context_window",
            "latency_ms",
            "quality",
            "capabilities",
            "enabled",
            "display_order",
            "health_url",
            "health_state",
            "consecutive_failures",
            "last_check_at",
            "last_error",
            "api_base",
            "api_format",
            "upstream_model",
            "api_key_env",
            "api_key_set",
            "input_cost_per_1m",
            "output_cost_per_1m",
            "cached_input_cost_per_1m",
            "use_observed_latency",
            "breaker_state",
            "breaker_failures",
            "breaker_until",
            "observed_ttfb_ms",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "consecutive_failures",
            "last_check_at",
            "last_error",
            "breaker_state",
            "breaker_failures",
            "breaker_until",
            "observed_ttfb_ms",
            "created_at",
            "updated_at",
        ]


class BudgetSerializer(StrictModelSerializer):
    amount = AmountField(label="Amount (USD)")
    timezone = ZoneField(
        required=False,
        max_length=64,
        validators=[validate_zone],
        help_text="Windows are calendar windows in this IANA zone.",
    )

    class Meta:
        model = Budget
        fields = [
            "id",
            "name",
            "amount",
            "period",
            "timezone",
            "hard_cap",
            "warning_threshold",
            "active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class LedgerEntrySerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    decision_id = serializers.CharField(source="route.decision_id", default=None, read_only=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "id",
            "kind",
            "amount",
            "amount_nanos",
            "charged_at",
            "created_at",
            "decision_id",
            "provider_key",
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "usage_source",
        ]

    def get_amount(self, obj: LedgerEntry) -> float:
        return obj.amount_nanos / 1e9


class RouteAttemptSerializer(serializers.ModelSerializer):
    cost = serializers.SerializerMethodField()

    class Meta:
        model = RouteAttempt
        fields = [
            "number",
            "provider_key",
            "stream",
            "outcome",
            "status_code",
            "error",
            "ttfb_ms",
            "total_ms",
            "prompt_tokens",
            "completion_tokens",
            "cached_tokens",
            "cost",
            "cost_nanos",
            "usage_source",
            "created_at",
        ]

    def get_cost(self, obj: RouteAttempt) -> float:
        return obj.cost_nanos / 1e9


class RouteLogSerializer(serializers.ModelSerializer):
    estimated_cost = serializers.SerializerMethodField()
    attempt_record = RouteAttemptSerializer(
        read_only=True,
        default=None,
        allow_null=True,
        help_text=(
            "Gateway calls: what happened when the provider of this decision was called (null: decision only, "
            "or not finished yet)."
        ),
    )

    class Meta:
        model = RouteLog
        fields = [
            "decision_id",
            "created_at",
            "interface",
            "task_type",
            "priority",
            "token_count",
            "max_latency",
            "provider_key",
            "outcome",
            "estimated_cost",
            "confidence",
            "reasoning",
            "candidates",
            "request_id",
            "attempt",
            "attempt_record",
        ]

    def get_estimated_cost(self, obj: RouteLog) -> float:
        return obj.estimated_cost_nanos / 1e9

    def to_representation(self, instance: RouteLog) -> dict[str, Any]:
        # Rows logged before scores were rounded at the source come out rounded too (scoring.shown).
        data = super().to_representation(instance)
        data["confidence"] = scoring.shown(instance.confidence)
        data["candidates"] = [scoring.shown_candidate(c) if isinstance(c, dict) else c for c in instance.candidates]
        return data


# --- POST /api/route-llm and its usage report. Their input is validated by llmrouter.validation (shared
# with the fast path); the *Doc serializers only document it. The decision's answer is built from
# RouteAnswerSerializer. ---


class RouteRequestDoc(serializers.Serializer):
    token_count = serializers.IntegerField(min_value=0, max_value=MAX_TOKENS, help_text="Tokens the call will use.")
    task_type = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=MAX_TASK_TYPE,
        help_text="A capability such as coding or reasoning; empty: any provider.",
    )
    priority = serializers.ChoiceField(
        choices=["high", "medium", "low", ""],
        required=False,
        allow_null=True,
        help_text="Default medium (also when empty); case and surrounding spaces are ignored.",
    )
    max_latency = serializers.FloatField(
        required=False, allow_null=True, min_value=0, help_text="Milliseconds; 0: no limit."
    )
    interface = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=MAX_INTERFACE,
        help_text="Who is calling, for the route log; default 'api'.",
    )
    id = RequestIdField(required=False, help_text="Your id (string or integer), echoed back as given.")


class RouteAnswerSerializer(serializers.Serializer):
    """POST /api/route-llm's decision: the one declaration of the answer's fields.

    Each field names the ``services.RouteResult`` attribute it shows (``source``, by default its own
    name). ``route_answer`` builds the answer from this list and the OpenAPI schema documents it
    (``RouteResponseDoc``), so a field added here is in both; tests/web/test_api_schema.py checks real
    answers against the served schema.
    """

    provider = serializers.CharField(source="provider_name", help_text="The chosen provider's display name.")
    reasoning = serializers.CharField()
    estimated_cost = serializers.FloatField(help_text="Dollars, reserved against the budget.")
    confidence = serializers.FloatField(help_text="The winning score clamped to [0, 1].")
    decision_id = serializers.CharField(help_text="Report usage to /api/route-llm/{decision_id}/usage.")
    provider_key = serializers.CharField()
    candidates = serializers.ListField(child=serializers.DictField(), help_text="Every provider's factors and score.")


# (answer key, RouteResult attribute) in the declared order; read once, since building the answer is on
# the fast path (a plain dict, not DRF's to_representation: the values are JSON-ready already).
_ROUTE_ANSWER_SOURCES: tuple[tuple[str, str], ...] = tuple(
    (name, field.source or name) for name, field in RouteAnswerSerializer().fields.items()
)


def route_answer(result: Any) -> dict[str, Any]:
    """The decision's fields of the answer (a ``services.RouteResult``), without the envelope."""
    return {name: getattr(result, source) for name, source in _ROUTE_ANSWER_SOURCES}


class RouteResponseDoc(RouteAnswerSerializer):
    """The routing decision in the success envelope (status, timestamp, your id)."""

    # The envelope's fields, added by the web package's route_answers.route_success.
    status = serializers.ChoiceField(choices=["success"])
    timestamp = serializers.CharField()
    id = RequestIdField(required=False, help_text="Your id, when you sent one.")


class UsageRequestDoc(serializers.Serializer):
    prompt_tokens = serializers.IntegerField(min_value=0, max_value=MAX_TOKENS)
    completion_tokens = serializers.IntegerField(min_value=0, max_value=MAX_TOKENS)


class UsageResponseDoc(serializers.Serializer):
    status = serializers.ChoiceField(choices=["success"])
    decision_id = serializers.CharField()
    provider_key = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    estimated_cost = serializers.FloatField(help_text="Dollars reserved when the call was routed.")
    actual_cost = serializers.FloatField(help_text="Dollars the reported usage costs.")
    adjustment = serializers.FloatField(help_text="actual_cost - estimated_cost, booked in the ledger.")
    already_settled = serializers.BooleanField(
        help_text="True when this decision had been settled before (the first report counts)."
    )
