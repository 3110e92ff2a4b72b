"""REST representations. Money leaves the API in dollars (floats); the ledger keeps nano-dollars."""
from __future__ import annotations

from rest_framework import serializers

from llmrouter.models import Budget, LedgerEntry, Provider, RouteAttempt, RouteLog


class ProviderSerializer(serializers.ModelSerializer):
    api_key_set = serializers.BooleanField(read_only=True, help_text=(
        "Whether the gateway can authenticate: no key variable, or it is set in the web process's environment. "
        "The key itself is never stored or shown."))

    class Meta:
        model = Provider
        fields = ["id", "key", "name", "cost_per_1m", "context_window", "latency_ms", "quality", "capabilities",
                  "enabled", "display_order", "health_url", "health_state", "consecutive_failures", "last_check_at",
                  "last_error", "api_base", "api_format", "upstream_model", "api_key_env", "api_key_set",
                  "input_cost_per_1m", "output_cost_per_1m", "cached_input_cost_per_1m", "use_observed_latency",
                  "breaker_state", "breaker_failures", "breaker_until", "observed_ttfb_ms", "created_at",
                  "updated_at"]
        read_only_fields = ["consecutive_failures", "last_check_at", "last_error", "breaker_state",
                            "breaker_failures", "breaker_until", "observed_ttfb_ms", "created_at", "updated_at"]


class BudgetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Budget
        fields = ["id", "name", "amount", "period", "timezone", "hard_cap", "warning_threshold", "active",
                  "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class LedgerEntrySerializer(serializers.ModelSerializer):
    amount = serializers.SerializerMethodField()
    decision_id = serializers.CharField(source="route.decision_id", default=None, read_only=True)

    class Meta:
        model = LedgerEntry
        fields = ["id", "kind", "amount", "amount_nanos", "charged_at", "created_at", "decision_id", "provider_key",
                  "prompt_tokens", "completion_tokens", "cached_tokens", "usage_source"]

    def get_amount(self, obj: LedgerEntry) -> float:
        return obj.amount_nanos / 1e9


class RouteAttemptSerializer(serializers.ModelSerializer):
    cost = serializers.SerializerMethodField()

    class Meta:
        model = RouteAttempt
        fields = ["number", "provider_key", "stream", "outcome", "status_code", "error", "ttfb_ms", "total_ms",
                  "prompt_tokens", "completion_tokens", "cached_tokens", "cost", "cost_nanos", "usage_source",
                  "created_at"]

    def get_cost(self, obj: RouteAttempt) -> float:
        return obj.cost_nanos / 1e9


class RouteLogSerializer(serializers.ModelSerializer):
    estimated_cost = serializers.SerializerMethodField()
    attempt_record = RouteAttemptSerializer(read_only=True, default=None, help_text=(
        "Gateway calls: what happened when the provider of this decision was called (null: decision only, "
        "or not finished yet)."))

    class Meta:
        model = RouteLog
        fields = ["decision_id", "created_at", "interface", "task_type", "priority", "token_count", "max_latency",
                  "provider_key", "outcome", "estimated_cost", "confidence", "reasoning", "candidates",
                  "request_id", "attempt", "attempt_record"]

    def get_estimated_cost(self, obj: RouteLog) -> float:
        return obj.estimated_cost_nanos / 1e9


# --- OpenAPI documentation only: validation is llmrouter.validation (shared with the fast path) ---

class RouteRequestDoc(serializers.Serializer):
    token_count = serializers.IntegerField(min_value=0)
    task_type = serializers.CharField(required=False, allow_blank=True, help_text="empty: any provider")
    priority = serializers.ChoiceField(choices=["high", "medium", "low"], required=False, default="medium")
    max_latency = serializers.FloatField(required=False, min_value=0, help_text="ms; 0: no limit")
    interface = serializers.CharField(required=False, default="api")
    id = serializers.CharField(required=False, help_text="echoed back")


class RouteResponseDoc(serializers.Serializer):
    provider = serializers.CharField()
    reasoning = serializers.CharField()
    estimated_cost = serializers.FloatField()
    confidence = serializers.FloatField()
    decision_id = serializers.CharField()
    provider_key = serializers.CharField()
    candidates = serializers.ListField(child=serializers.DictField())
    status = serializers.CharField()
    timestamp = serializers.CharField()


class ErrorDoc(serializers.Serializer):
    id = serializers.CharField(allow_null=True)
    status = serializers.CharField()
    error = serializers.DictField(help_text='{"code", "message", "details"}')
    timestamp = serializers.CharField()


class UsageRequestDoc(serializers.Serializer):
    prompt_tokens = serializers.IntegerField(min_value=0)
    completion_tokens = serializers.IntegerField(min_value=0)


class UsageResponseDoc(serializers.Serializer):
    decision_id = serializers.CharField()
    provider_key = serializers.CharField()
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    estimated_cost = serializers.FloatField()
    actual_cost = serializers.FloatField()
    adjustment = serializers.FloatField()
    already_settled = serializers.BooleanField()
