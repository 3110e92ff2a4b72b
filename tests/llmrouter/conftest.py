"""Router fixtures: the seed's data, made explicit.

The data migration loads the seed into the test database, but transactional
tests (``transaction=True``) flush every table afterwards, so tests that need
the seed ask for it through ``seed_router`` instead of relying on it.
"""

from __future__ import annotations

import importlib
from decimal import Decimal

import pytest

SEED = importlib.import_module("llmrouter.migrations.0002_seed_providers_budget")


def load_seed(
    *, budget: str | Decimal = "100.00", hard_cap: bool = True, timezone: str = "UTC", period: str = "daily"
) -> None:
    from llmrouter.models import Budget, Provider, RouterWeights

    for order, (key, name, cost, context, latency, quality, caps) in enumerate(SEED.PROVIDERS):
        Provider.objects.update_or_create(
            key=key,
            defaults={
                "name": name,
                "cost_per_1m": Decimal(cost),
                "context_window": context,
                "latency_ms": latency,
                "quality": quality,
                "capabilities": caps,
                "display_order": order * 10,
                "enabled": True,
                "health_state": "healthy",
                "health_url": "",
                "consecutive_failures": 0,
            },
        )
    Budget.objects.all().delete()
    Budget.objects.create(name="Daily", amount=Decimal(budget), period=period, timezone=timezone, hard_cap=hard_cap)
    RouterWeights.objects.update_or_create(pk=1, defaults={})


@pytest.fixture
def seed_router(db):
    load_seed()
    return load_seed


@pytest.fixture
def gateway_seed(monkeypatch):
    """The seed, every provider callable by the gateway (an API base and a key variable that is set)."""
    from llmrouter.models import Provider

    load_seed()
    monkeypatch.setenv("TEST_GW_KEY", "secret")
    Provider.objects.update(api_base="http://127.0.0.1:9/v1", api_key_env="TEST_GW_KEY")
    return load_seed


@pytest.fixture(autouse=True)
def no_route_rate_limit(settings):
    # These tests are about routing; the web layer's rate limits and the anonymous callers' share of the
    # budget (most of these tests call without a token) have their own tests.
    rates = dict(settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}))
    rates.update({"route_llm_user": None, "route_llm_anon": None})
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    settings.LLMROUTER = {**settings.LLMROUTER, "ANONYMOUS_BUDGET_SHARE": 1.0}
