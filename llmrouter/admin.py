"""Admin: providers, budgets and weights editable; ledger and route logs read-only."""
from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from llmrouter.models import (Budget, LedgerCheckpoint, LedgerEntry, Provider, RouteAttempt, RouteLog,
                              RouterWeights)


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "cost_per_1m", "context_window", "latency_ms", "quality", "enabled",
                    "health_state", "breaker_state", "observed_ttfb_ms", "api_format", "key_variable_set",
                    "last_check_at", "display_order"]
    list_editable = ["enabled", "display_order"]
    list_filter = ["enabled", "health_state", "breaker_state", "api_format"]
    search_fields = ["key", "name"]
    readonly_fields = ["consecutive_failures", "last_check_at", "last_error", "key_variable_set", "breaker_state",
                       "breaker_failures", "breaker_until", "observed_ttfb_ms", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["key", "name", "enabled", "display_order"]}),
        ("Routing", {"fields": ["cost_per_1m", "input_cost_per_1m", "output_cost_per_1m", "cached_input_cost_per_1m",
                                "context_window", "latency_ms", "use_observed_latency", "quality", "capabilities"]}),
        ("Gateway (/v1/)", {"fields": ["api_base", "api_format", "upstream_model", "api_key_env",
                                       "key_variable_set"]}),
        ("Health", {"fields": ["health_url", "health_state", "consecutive_failures", "last_check_at", "last_error",
                               "breaker_state", "breaker_failures", "breaker_until", "observed_ttfb_ms"]}),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.display(boolean=True, description="key variable set")
    def key_variable_set(self, obj: Provider) -> bool:
        # Whether the web process can authenticate; the key itself is never stored or shown.
        return obj.api_key_set


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


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(_ReadOnlyAdmin):
    list_display = ["created_at", "kind", "amount", "provider_key", "route", "charged_at", "prompt_tokens",
                    "completion_tokens", "cached_tokens", "usage_source"]
    list_filter = ["kind", "provider_key", "usage_source"]
    date_hierarchy = "created_at"
    list_select_related = ["route"]


class RouteAttemptInline(admin.StackedInline):
    model = RouteAttempt
    fields = ["number", "provider_key", "stream", "outcome", "status_code", "error", "ttfb_ms", "total_ms",
              "prompt_tokens", "completion_tokens", "cached_tokens", "cost", "usage_source"]
    readonly_fields = fields
    can_delete = False
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(RouteLog)
class RouteLogAdmin(_ReadOnlyAdmin):
    inlines = [RouteAttemptInline]
    list_display = ["created_at", "decision_id", "interface", "task_type", "priority", "token_count",
                    "provider_key", "outcome", "estimated_cost", "confidence"]
    list_filter = ["outcome", "priority", "interface", "provider_key"]
    search_fields = ["decision_id", "request_id", "reasoning"]
    date_hierarchy = "created_at"


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(_ReadOnlyAdmin):
    list_display = ["window_start", "window_end", "up_to_id", "total_nanos", "created_at"]
