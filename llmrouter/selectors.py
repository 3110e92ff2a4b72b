"""Reads: spend per window, budget status, provider health, the gateway's attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from llmrouter import store, windows
from llmrouter.models import Budget, Provider, RouteAttempt


def spend_nanos(*, start: datetime, end: datetime) -> int:
    """Net money charged to [start, end): reservations plus settlement adjustments."""
    return store.window_spend(start, end)


def budget_status(*, budget: Budget, now: datetime | None = None) -> dict[str, Any]:
    now = now or windows.utc_now()
    start, end = budget.window(now)
    spent = spend_nanos(start=start, end=end)
    amount = budget.amount_nanos
    utilization = spent / amount if amount > 0 else (1.0 if spent > 0 else 0.0)
    return {
        "id": budget.pk,
        "name": budget.name,
        "period": budget.period,
        "timezone": budget.timezone,
        "hard_cap": budget.hard_cap,
        "amount": amount / 1e9,
        "spent": spent / 1e9,
        "remaining": (amount - spent) / 1e9,
        "utilization_pct": round(utilization * 100, 2),
        "warning_threshold": budget.warning_threshold,
        "warning": utilization >= budget.warning_threshold,
        "exhausted": spent >= amount,
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
    }


def budgets_status(*, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or windows.utc_now()
    return [budget_status(budget=b, now=now) for b in Budget.objects.filter(active=True).order_by("pk")]


def primary_budget(statuses: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The budget /health reports as ``daily_budget``: the first active daily one, else the first active."""
    for status in statuses:
        if status["period"] == windows.DAILY:
            return status
    return statuses[0] if statuses else None


def provider_health(*, providers: list[Provider] | None = None) -> list[dict[str, Any]]:
    rows = providers if providers is not None else list(Provider.objects.order_by("display_order", "key"))
    return [
        {
            "key": p.key,
            "name": p.name,
            "enabled": p.enabled,
            "health": p.health_state,
            "consecutive_failures": p.consecutive_failures,
            "last_check_at": p.last_check_at.isoformat() if p.last_check_at else None,
            "last_error": p.last_error,
            "health_checked": bool(p.health_url),
            # The gateway's passive health: its circuit breaker and the observed time to first byte.
            "breaker": p.breaker_state,
            "breaker_failures": p.breaker_failures,
            "breaker_until": p.breaker_until.isoformat() if p.breaker_until else None,
            "observed_ttfb_ms": p.observed_ttfb_ms,
        }
        for p in rows
    ]


def gateway_attempt_totals() -> list[dict[str, Any]]:
    """Every gateway attempt so far, by provider and outcome: how many, their tokens, what they cost (nano-dollars),
    and how many streamed."""
    from django.db.models import Count, Q, Sum

    rows = (
        RouteAttempt.objects.values("provider_key", "outcome")
        .annotate(
            attempts=Count("id"),
            streamed=Count("id", filter=Q(stream=True)),
            prompt_tokens=Sum("prompt_tokens"),
            completion_tokens=Sum("completion_tokens"),
            cost_nanos=Sum("cost_nanos"),
        )
        .order_by("provider_key", "outcome")
    )
    return [{**row, **{k: row[k] or 0 for k in ("prompt_tokens", "completion_tokens", "cost_nanos")}} for row in rows]


def router_health(*, now: datetime | None = None) -> dict[str, Any]:
    """The /health ``llm_router`` block (seed's keys first) and the problems an operator should see."""
    now = now or windows.utc_now()
    statuses = budgets_status(now=now)
    primary = primary_budget(statuses)
    providers = provider_health()
    problems: list[str] = []
    for p in providers:
        if p["enabled"] and p["health"] != Provider.Health.HEALTHY:
            problems.append(f"provider {p['key']} is unhealthy: {p['last_error'] or 'no detail'}")
        if p["enabled"] and p["breaker"] != Provider.Breaker.CLOSED:
            problems.append(
                f"provider {p['key']}: the gateway's circuit breaker is {p['breaker']} "
                f"after {p['breaker_failures']} consecutive failures"
            )
    for s in statuses:
        if s["exhausted"]:
            problems.append(f"budget {s['name']} is exhausted ({s['utilization_pct']}% used)")
        elif s["warning"]:
            problems.append(f"budget {s['name']} is past its warning threshold ({s['utilization_pct']}% used)")
    if not any(p["enabled"] and p["health"] == Provider.Health.HEALTHY for p in providers):
        problems.append("no enabled, healthy provider")
    block = {
        "daily_budget": primary["amount"] if primary else None,
        "current_spend": primary["spent"] if primary else 0.0,
        "remaining": primary["remaining"] if primary else None,
        "utilization_pct": primary["utilization_pct"] if primary else 0.0,
        "budgets": statuses,
        "providers": providers,
    }
    return {"llm_router": block, "problems": problems}
