"""REST representations. Money leaves the API in dollars (floats); the ledger keeps nano-dollars."""
from __future__ import annotations

from typing import Any

from rest_framework import serializers

from llmrouter import scoring
from llmrouter.models import Budget, LedgerEntry, Provider, RouteLog


class ProviderSerializer(serializers.ModelSerializer):
    class Meta:
        model = Provider
        fields = ["id", "key", "name", "cost_per_1m", "context_window", "latency_ms", "quality", "capabilities",
                  "enabled", "display_order", "health_url", "health_state", "consecutive_failures", "last_check_at",
                  "last_error", "created_at", "updated_at"]
        read_only_fields = ["consecutive_failures", "last_check_at", "last_error", "created_at", "updated_at"]


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
                  "prompt_tokens", "completion_tokens"]

    def get_amount(self, obj: LedgerEntry) -> float:
        return obj.amount_nanos / 1e9


class RouteLogSerializer(serializers.ModelSerializer):
    estimated_cost = serializers.SerializerMethodField()

    class Meta:
        model = RouteLog
        fields = ["decision_id", "created_at", "interface", "task_type", "priority", "token_count", "max_latency",
                  "provider_key", "outcome", "estimated_cost", "confidence", "reasoning", "candidates"]

    def get_estimated_cost(self, obj: RouteLog) -> float:
        return obj.estimated_cost_nanos / 1e9

    def to_representation(self, instance: RouteLog) -> dict[str, Any]:
        # Rows logged before scores were rounded at the source come out rounded too (scoring.shown).
        data = super().to_representation(instance)
        data["confidence"] = scoring.shown(instance.confidence)
        data["candidates"] = [scoring.shown_candidate(c) if isinstance(c, dict) else c for c in instance.candidates]
        return data


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
