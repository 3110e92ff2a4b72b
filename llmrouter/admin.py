"""Admin: providers, budgets and weights editable; ledger, checkpoints and route logs read-only.

A route log's page shows its candidates as a table (candidates_table_html) with the
factors rounded by scoring.shown() and the costs as exact decimals.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from llmrouter import breaker, scoring
from llmrouter.models import (
    Budget,
    LedgerCheckpoint,
    LedgerEntry,
    Provider,
    RouteAttempt,
    RouteLog,
    RouterWeights,
    exact_dollars,
)
from orchestrator_common.admin_readonly import ReadOnlyAdmin


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "key",
        "cost_per_1m",
        "context_window",
        "latency_ms",
        "quality",
        "enabled",
        "health_state",
        "breaker_state",
        "observed_ttfb_ms",
        "api_format",
        "key_variable_set",
        "last_check_at",
        "display_order",
    ]
    list_editable = ["enabled", "display_order"]
    list_filter = ["enabled", "health_state", "breaker_state", "api_format"]
    actions = ["close_breaker"]
    search_fields = ["key", "name"]
    readonly_fields = [
        "consecutive_failures",
        "last_check_at",
        "last_error",
        "key_variable_set",
        "breaker_state",
        "breaker_failures",
        "breaker_until",
        "observed_ttfb_ms",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["key", "name", "enabled", "display_order"]}),
        (
            "Routing",
            {
                "fields": [
                    "cost_per_1m",
                    "input_cost_per_1m",
                    "output_cost_per_1m",
                    "cached_input_cost_per_1m",
                    "context_window",
                    "latency_ms",
                    "use_observed_latency",
                    "quality",
                    "capabilities",
                ]
            },
        ),
        ("Gateway (/v1/)", {"fields": ["api_base", "api_format", "upstream_model", "api_key_env", "key_variable_set"]}),
        (
            "Health",
            {
                "fields": [
                    "health_url",
                    "health_state",
                    "consecutive_failures",
                    "last_check_at",
                    "last_error",
                    "breaker_state",
                    "breaker_failures",
                    "breaker_until",
                    "observed_ttfb_ms",
                ]
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"]}),
    ]

    @admin.action(description="Close the circuit breaker (the provider is fixed)", permissions=["change"])
    def close_breaker(self, request: HttpRequest, queryset: Any) -> None:
        # What POST /api/providers/<key>/reset-breaker/ does: the admin's operators had no way to do it.
        from llmgateway import events

        closed = [p.key for p in queryset if p.breaker_state != breaker.CLOSED]
        for key in closed:
            events.reset_breaker(key, by=f"admin, {request.user.get_username()}")
        done = f"Closed: {', '.join(closed)}." if closed else "Every selected breaker was already closed."
        self.message_user(request, done)

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
    list_display = [
        "__str__",
        "high_quality_multiplier",
        "high_cost_multiplier",
        "low_quality_multiplier",
        "low_cost_multiplier",
        "over_budget_cost_factor",
        "cost_scale",
        "latency_scale_ms",
        "over_latency_factor",
        "updated_at",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not RouterWeights.objects.exists()  # a singleton

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "amount",
        "provider_key",
        "route",
        "charged_at",
        "prompt_tokens",
        "completion_tokens",
        "cached_tokens",
        "usage_source",
    ]
    list_filter = ["kind", "provider_key", "usage_source"]
    date_hierarchy = "created_at"
    list_select_related = ["route"]


_ATTEMPT_FIELDS = (
    "number",
    "provider_key",
    "stream",
    "outcome",
    "status_code",
    "error",
    "time_to_first_byte",
    "total_time",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_usd",
    "usage_source",
)


class RouteAttemptInline(admin.StackedInline):
    model = RouteAttempt
    fields = _ATTEMPT_FIELDS
    readonly_fields = _ATTEMPT_FIELDS
    can_delete = False
    extra = 0

    @admin.display(description="time to first byte")
    def time_to_first_byte(self, obj: RouteAttempt) -> str:
        return _ms(obj.ttfb_ms)

    @admin.display(description="total time")
    def total_time(self, obj: RouteAttempt) -> str:
        return _ms(obj.total_ms)

    @admin.display(description="cost")
    def cost_usd(self, obj: RouteAttempt) -> str:
        return _usd(obj.cost)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class CallOutcomeFilter(admin.ChoicesFieldListFilter):
    """The attempt's outcome, titled "call": Django would title it "outcome", like the decision's own filter."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "call"


@admin.register(RouteLog)
class RouteLogAdmin(ReadOnlyAdmin):
    inlines = [RouteAttemptInline]
    # The provider, the decision and what the call did come first: at a laptop's width the columns after
    # the decision id scroll out of sight, and a failover's first attempt is "routed" like a served one.
    list_display = [
        "created_at",
        "decision_id",
        "provider_key",
        "call",
        "attempt",
        "outcome",
        "interface",
        "task_type",
        "priority",
        "token_count",
        "estimated_cost",
        "shown_confidence",
    ]
    list_select_related = ["attempt_record"]
    list_filter = ["outcome", ("attempt_record__outcome", CallOutcomeFilter), "priority", "interface", "provider_key"]
    search_fields = ["decision_id", "request_id", "reasoning"]
    date_hierarchy = "created_at"
    fieldsets = [
        (
            "Request",
            {
                "fields": [
                    "decision_id",
                    "request_id",
                    "attempt",
                    "request_attempts",
                    "created_at",
                    "interface",
                    "task_type",
                    "priority",
                    "token_count",
                    "max_latency",
                ]
            },
        ),
        (
            "Decision",
            {
                "fields": [
                    "outcome",
                    "provider",
                    "provider_key",
                    "reasoning",
                    "shown_confidence",
                    "estimated_cost_usd",
                    "cost_per_1m",
                    "input_cost_per_1m",
                    "output_cost_per_1m",
                    "cached_input_cost_per_1m",
                    "ledger_entries",
                ]
            },
        ),
        ("Candidates", {"fields": ["candidates_table"]}),
    ]

    @admin.display(description="call", ordering="attempt_record__outcome")
    def call(self, obj: RouteLog) -> str:
        """What the gateway's call of this decision did (ok, upstream_error, ...); "-" for a decision only."""
        try:
            return obj.attempt_record.outcome  # the short code: the labels wrap and hide the next columns
        except RouteAttempt.DoesNotExist:
            return "-"

    @admin.display(description="attempts of this request")
    def request_attempts(self, obj: RouteLog) -> str:
        """Every decision of the request (a failover's are one page each): each, with what its call did."""
        if not obj.request_id:
            return "-"
        rows = RouteLog.objects.filter(request_id=obj.request_id).select_related("attempt_record")
        return format_html_join(
            mark_safe("<br>"),
            '{}<a href="{}">#{} {}</a>: {}',
            (
                (
                    "" if r.pk != obj.pk else mark_safe("&#9656; "),
                    reverse("admin:llmrouter_routelog_change", args=(r.pk,)),
                    r.attempt,
                    r.provider_key or r.outcome,
                    self.call(r),
                )
                for r in rows.order_by("attempt", "id")
            ),
        )

    @admin.display(description="confidence", ordering="confidence")
    def shown_confidence(self, obj: RouteLog) -> float:
        return scoring.shown(obj.confidence)

    @admin.display(description="estimated cost")
    def estimated_cost_usd(self, obj: RouteLog) -> str:
        return _usd(obj.estimated_cost)

    @admin.display(description="candidates")
    def candidates_table(self, obj: RouteLog) -> str:
        return candidates_table_html(
            obj.candidates, chosen=obj.provider_key if obj.outcome == obj.OUTCOME_ROUTED else None
        )

    @admin.display(description="ledger")
    def ledger_entries(self, obj: RouteLog) -> str:
        entries = list(obj.ledger.order_by("id"))
        if not entries:
            return "nothing reserved (a free provider, or not routed)"
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a>: {}{}',
            (
                (
                    reverse("admin:llmrouter_ledgerentry_change", args=(e.pk,)),
                    e.kind,
                    _usd(e.amount),
                    f" ({e.prompt_tokens} + {e.completion_tokens} tokens)" if e.prompt_tokens is not None else "",
                )
                for e in entries
            ),
        )


def candidates_table_html(candidates: list[dict[str, Any]], *, chosen: str | None) -> str:
    """A route log's candidates as a table: factors rounded by scoring.shown(), the cost exact,
    the winner marked. Rows logged before the rounding existed are rounded here too."""
    if not candidates:
        return "-"
    rows = []
    for c in map(scoring.shown_candidate, candidates):
        won = c.get("provider") == chosen
        factors = ["" if c.get(k) is None else c[k] for k in scoring.SHOWN_KEYS]
        rows.append(
            format_html(
                '<tr class="{}"><td>{}</td><td>{}<br><span class="quiet">{}</span></td>{}<td>{}</td><td>{}</td></tr>',
                "candidate-winner" if won else ("candidate-excluded" if c.get("excluded") else "candidate"),
                "\u2605 winner" if won else "",
                c.get("name", ""),
                c.get("provider", ""),
                format_html_join("", '<td class="num">{}</td>', ((f,) for f in factors)),
                _usd(c.get("request_cost")),
                c.get("reason") or "",
            )
        )
    header = format_html_join(
        "",
        "<th>{}</th>",
        (
            (h,)
            for h in (
                "",
                "provider",
                "quality",
                "quality x priority",
                "cost factor",
                "latency factor",
                "score",
                "cost",
                "excluded because",
            )
        ),
    )
    return format_html(
        '<div class="candidates-scroll"><table class="candidates"><thead><tr>{}</tr></thead>'
        "<tbody>{}</tbody></table></div>",
        header,
        mark_safe("".join(rows)),
    )


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _usd(value: Any) -> str:
    return "-" if value is None else exact_dollars(value)


@admin.register(LedgerCheckpoint)
class LedgerCheckpointAdmin(ReadOnlyAdmin):
    list_display = ["window_start", "window_end", "up_to_id", "total_nanos", "created_at"]
