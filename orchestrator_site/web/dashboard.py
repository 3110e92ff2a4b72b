"""The admin dashboard: spend per day (30 days) against the budget, decisions per provider."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.safestring import mark_safe

from orchestrator_site.web.charts import bar_chart_svg

DAYS = 30


def spend_by_day(*, now: Any = None, days: int = DAYS) -> dict[str, Any]:
    """Net spend per local day of the primary budget's zone, oldest first, with that budget."""
    from llmrouter import selectors, windows
    from llmrouter.models import LedgerEntry, RouteLog

    now = now or windows.utc_now()
    statuses = selectors.budgets_status(now=now)
    primary = selectors.primary_budget(statuses)
    tz = windows.zone(primary["timezone"] if primary else "UTC")
    today = now.astimezone(tz).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(0, 0), tzinfo=tz).astimezone(UTC)
    rows = (
        LedgerEntry.objects.filter(charged_at__gte=start)
        .annotate(day=TruncDate("charged_at", tzinfo=tz))
        .values("day")
        .annotate(total=Sum("amount_nanos"))
        .order_by("day")
    )
    by_day = {row["day"]: (row["total"] or 0) / 1e9 for row in rows}
    series = [(first + timedelta(days=i), by_day.get(first + timedelta(days=i), 0.0)) for i in range(days)]
    decisions = list(
        RouteLog.objects.filter(created_at__gte=start)
        .values("provider_key", "outcome")
        .annotate(n=Count("id"))
        .order_by("-n", "provider_key")
    )
    return {"series": series, "primary": primary, "decisions": decisions, "timezone": str(tz)}


def _decision_bars(decisions: list[dict[str, Any]]) -> list[tuple[str, float]]:
    totals: dict[str, float] = {}
    for row in decisions:
        key = row["provider_key"] or f"({row['outcome']})"
        totals[key] = totals.get(key, 0) + row["n"]
    return sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))


@staff_member_required
def dashboard(request: HttpRequest) -> HttpResponse:
    data = spend_by_day()
    primary = data["primary"]
    daily_budget = primary["amount"] if primary and primary["period"] == "daily" else None
    spend_svg = bar_chart_svg(
        [(d.strftime("%m-%d"), v) for d, v in data["series"]],
        reference=daily_budget,
        reference_label=f"daily budget ${daily_budget:,.2f}" if daily_budget else "",
        unit="$",
        label_every=3,
    )
    bars = _decision_bars(data["decisions"])
    decisions_svg = bar_chart_svg(bars, width=max(260, 90 * len(bars) + 70), height=200)
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "spend_svg": mark_safe(spend_svg),  # built by bar_chart_svg, which escapes every label
        "decisions_svg": mark_safe(decisions_svg),
        "series": data["series"],
        "total_30d": sum(v for _, v in data["series"]),
        "primary": primary,
        "decisions": data["decisions"],
        "timezone": data["timezone"],
        "days": DAYS,
    }
    return TemplateResponse(request, "web/dashboard.html", context)
