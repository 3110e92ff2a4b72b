"""Rows the web tests need (transactional tests start from empty tables)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from agents.models import AgentInstance, AgentType


def agent_types(*names: str) -> dict[str, AgentType]:
    return {
        name: AgentType.objects.get_or_create(name=name, defaults={"description": f"{name} agent"})[0] for name in names
    }


def agent_instance(agent_type: AgentType, instance_id: str, **fields: Any) -> AgentInstance:
    return AgentInstance.objects.create(agent_type=agent_type, instance_id=instance_id, **fields)


def router_rows(*, now: datetime | None = None) -> dict[str, Any]:
    """Two providers (one unhealthy), a $100 daily budget, routed decisions and spend today and 3 days ago."""
    from llmrouter.models import Budget, LedgerEntry, Provider, RouteLog

    now = now or datetime.now(UTC)
    fast = Provider.objects.create(
        key="fast-one",
        name="Fast One",
        cost_per_1m=Decimal("10"),
        context_window=8000,
        latency_ms=500,
        quality=0.8,
        capabilities=["coding"],
    )
    down = Provider.objects.create(
        key="down-one",
        name="Down One",
        cost_per_1m=Decimal("1"),
        context_window=8000,
        latency_ms=500,
        quality=0.5,
        capabilities=["coding"],
        health_state="unhealthy",
        consecutive_failures=3,
    )
    budget = Budget.objects.create(name="daily", amount=Decimal("100"), period="daily", timezone="UTC")
    for i, (when, dollars) in enumerate([(now, 12.5), (now - timedelta(days=3), 130.0)]):
        route = RouteLog.objects.create(
            decision_id=f"dec-{i}",
            created_at=when,
            priority="medium",
            token_count=10,
            provider_key="fast-one",
            outcome=RouteLog.OUTCOME_ROUTED,
        )
        LedgerEntry.objects.create(
            kind="reservation",
            amount_nanos=int(dollars * 1e9),
            charged_at=when,
            created_at=when,
            route=route,
            provider=fast,
            provider_key="fast-one",
        )
    RouteLog.objects.create(
        decision_id="dec-refused",
        created_at=now,
        priority="medium",
        token_count=10,
        provider_key="",
        outcome="NO_SUITABLE_PROVIDER",
    )
    return {"fast": fast, "down": down, "budget": budget}
