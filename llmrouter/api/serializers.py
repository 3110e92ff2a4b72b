"""REST representations. Money leaves the API in dollars (floats); the ledger keeps nano-dollars."""
from __future__ import annotations

from rest_framework import serializers

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
