"""Anonymous callers of /api/route-llm reserve at most their share of each budget (ANONYMOUS_BUDGET_SHARE).

Through the real ASGI application (the fast path and the DRF view) on the test database: 45 anonymous
calls of 150,000 tokens at high priority (Claude, $2.25 each) took the whole $100 day, leaving nothing for
callers with tokens.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from llmrouter import dbthread, services
from llmrouter.models import LedgerEntry, RouteLog
from tests.llmrouter.conftest import load_seed

pytestmark = pytest.mark.django_db(transaction=True)

BIG = {"token_count": 150_000, "task_type": "coding", "priority": "high"}  # only Claude fits: $2.25


@pytest.fixture(autouse=True)
def default_share(settings):
    # settings.py's default (conftest.py lifts it for the other router tests); the assertions below spell it out.
    settings.LLMROUTER = {**settings.LLMROUTER, "ANONYMOUS_BUDGET_SHARE": 0.05}


@pytest.fixture
def app():
    from orchestrator_site.asgi import application

    load_seed()
    yield application
    dbthread.close_pool_connections()


@pytest.fixture
def token() -> str:
    return Token.objects.create(user=get_user_model().objects.create_user("router-user")).key


def post_all(app: Any, bodies: list[dict[str, Any]], headers: dict[str, str] | None = None) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("127.0.0.7", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return [await client.post("/api/route-llm", json=b, headers=headers or {}) for b in bodies]

    return asyncio.run(go())


def reserved(interface: str | None = None) -> Decimal:
    entries = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESERVATION)
    if interface is not None:
        entries = entries.filter(route__interface=interface)
    return Decimal(sum(e.amount_nanos for e in entries)) / Decimal(10**9)


def test_anonymous_callers_cannot_take_the_day_and_token_callers_still_route(app, token):
    anonymous = post_all(app, [BIG] * 45)
    codes = [r.status_code for r in anonymous]
    assert codes[:2] == [200, 200] and set(codes[2:]) == {402}, codes  # $5 of $100 (5%): two calls of $2.25
    refused = anonymous[2].json()["error"]
    assert refused["code"] == "BUDGET_EXCEEDED" and refused["details"]["anonymous_share"] == 0.05
    assert reserved("anonymous") == Decimal("4.5")
    with_token = post_all(app, [BIG] * 10, {"Authorization": f"Token {token}"})
    assert [r.status_code for r in with_token] == [200] * 10
    assert {r.json()["provider"] for r in with_token} == {"Claude Sonnet 4"}
    assert reserved() == Decimal("27")  # 4.50 anonymous + 22.50 with a token


def test_the_share_is_configurable_and_zero_leaves_anonymous_callers_the_free_providers(app, settings):
    settings.LLMROUTER = {**settings.LLMROUTER, "ANONYMOUS_BUDGET_SHARE": 0.0}
    big, small = post_all(app, [BIG, {"token_count": 1000, "task_type": "coding"}])
    assert big.status_code == 402
    assert small.status_code == 200 and small.json()["provider"] == "Local Llama"
    assert RouteLog.objects.get(decision_id=small.json()["decision_id"]).interface == "anonymous"


def test_the_django_view_applies_the_same_share(app):
    from django.test import Client

    client = Client(enforce_csrf_checks=False)
    answers = [client.post("/api/route-llm", BIG, content_type="application/json") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 402, 402]


def test_anonymous_reservations_in_one_batch_see_each_other():
    load_seed()
    outcomes = services.route_requests([{**BIG, "anonymous": True} for _ in range(5)])
    assert [type(o).__name__ for o in outcomes] == ["RouteResult", "RouteResult"] + ["ProtocolError"] * 3
