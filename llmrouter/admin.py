"""Admin: providers, budgets and weights editable; ledger and route logs read-only."""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from llmrouter.models import Budget, LedgerCheckpoint, LedgerEntry, Provider, RouteLog, RouterWeights
from orchestrator_site.admin_readonly import ReadOnlyAdmin


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "cost_per_1m", "context_window", "latency_ms", "quality", "enabled",
                    "health_state", "last_check_at", "display_order"]
    list_editable = ["enabled", "display_order"]
    list_filter = ["enabled", "health_state"]
    search_fields = ["key", "name"]
    readonly_fields = ["consecutive_failures", "last_check_at", "last_error", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["key", "name", "enabled", "display_order"]}),
        ("Routing", {"fields": ["cost_per_1m", "context_window", "latency_ms", "quality", "capabilities"]}),
        ("Health", {"fields": ["health_url", "health_state", "consecutive_failures", "last_check_at", "last_error"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ["name", "amount", "period", "timezone", "hard_cap", "warning_threshold", "active"]
    list_editable = ["active"]
    list_filter = ["period", "hard_cap", "active"]


@admin.register(RouterWeights)
class RouterWeightsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "high_quality_multiplier", "high_cost_multiplier", "low_quality_multiplier",
                    "low_cost_multiplier", "over_budget_cost_factor", "cost_scale", "latency_scale_ms",
                    "over_latency_factor", "updated_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RouterWeights.objects.exists()  # a singleton

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "amount", "provider_key", "route", "charged_at", "prompt_tokens",
                    "completion_tokens"]
    list_filter = ["kind", "provider_key"]
    date_hierarchy = "created_at"
    list_select_related = ["route"]


@admin.register(RouteLog)
class RouteLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "decision_id", "interface", "task_type", "priority", "token_count",
                    "provider_key", "outcome", "estimated_cost", "confidence"]
    list_filter = ["outcome", "priority", "interface", "provider_key"]
    search_fields = ["decision_id", "reasoning"]
    date_hierarchy = "created_at"


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["window_start", "window_end", "up_to_id", "total_nanos", "created_at"]
