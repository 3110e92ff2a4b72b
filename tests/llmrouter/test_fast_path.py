"""POST /api/route-llm through the ASGI application (the fast path in front of Django)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from llmrouter import dbthread
from llmrouter.models import LedgerEntry, RouteLog
from orchestrator_site.fast_http import FastHttpDispatcher
from orchestrator_site.web import fast_route
from tests.llmrouter.conftest import load_seed

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def asgi_app():
    from orchestrator_site.asgi import application, http_app

    assert "/api/route-llm" in http_app.routes()
    load_seed()
    yield application
    # The fast path's pool thread keeps a connection: close it so the test
    # database can be dropped (PostgreSQL refuses while a session is open).
    dbthread.close_pool_connections()


def call(app, method: str, path: str, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


def test_fast_path_routes_and_reserves(asgi_app):
    response = call(asgi_app, "POST", "/api/route-llm", json={"token_count": 5000, "task_type": "analysis", "id": 9})
    assert response.status_code == 200
    body = response.json()
    assert (body["provider"], body["provider_key"], body["id"]) == ("Gemini Pro", "gemini-pro", 9)
    assert body["estimated_cost"] == pytest.approx(0.035)
    assert RouteLog.objects.get(decision_id=body["decision_id"]).interface == "anonymous"  # no token
    assert LedgerEntry.objects.get().amount_nanos == 35_000_000


def test_fast_path_rejects_bad_input_with_400_and_reserves_nothing(asgi_app):
    for body in (b"{", b'{"token_count": -3}', b'{"token_count": 5, "priority": "now"}', b"null"):
        response = call(asgi_app, "POST", "/api/route-llm", content=body)
        assert response.status_code == 400, body
        assert response.json()["status"] == "error"
        assert response.json()["error"]["code"] in ("INVALID_JSON", "INVALID_REQUEST", "VALIDATION_ERROR")
    assert not RouteLog.objects.exists() and not LedgerEntry.objects.exists()


def test_fast_path_refusal_carries_the_protocol_error(asgi_app):
    response = call(asgi_app, "POST", "/api/route-llm", json={"token_count": 5, "task_type": "vision"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "NO_SUITABLE_PROVIDER"
    assert len(response.json()["error"]["details"]["excluded"]) == 4


def test_fast_path_limits_body_size_and_checks_the_host(asgi_app):
    big = call(asgi_app, "POST", "/api/route-llm", content=b"{" + b" " * (fast_route.MAX_BODY_BYTES + 1) + b"}")
    assert big.status_code == 413 and big.json()["error"]["code"] == "MESSAGE_TOO_LARGE"
    evil = call(asgi_app, "POST", "/api/route-llm", json={"token_count": 1}, headers={"host": "evil.example"})
    assert evil.status_code == 400
    assert not RouteLog.objects.exists()


def test_other_methods_and_paths_reach_django(asgi_app):
    assert call(asgi_app, "GET", "/api/route-llm").status_code == 405  # the DRF view answers
    assert call(asgi_app, "GET", "/api/providers/").status_code in (401, 403)


def test_fast_path_is_registered_unless_switched_off(settings):
    settings.LLMROUTER = {**settings.LLMROUTER, "FAST_PATH": False}
    dispatcher = FastHttpDispatcher(fallback=None)
    fast_route.register_fast_paths(dispatcher)
    assert dispatcher.routes() == {}
    # Token callers still want the fast path.
    settings.LLMROUTER = {**settings.LLMROUTER, "FAST_PATH": True, "ROUTE_ALLOW_ANONYMOUS": False}
    fast_route.register_fast_paths(dispatcher)
    assert dispatcher.routes() == {"/api/route-llm": frozenset({"POST"})}


def test_with_anonymous_routing_off_the_fast_path_wants_a_token(asgi_app, settings):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    settings.LLMROUTER = {**settings.LLMROUTER, "ROUTE_ALLOW_ANONYMOUS": False}
    key = Token.objects.create(user=get_user_model().objects.create_user("router-user")).key
    anonymous = call(asgi_app, "POST", "/api/route-llm", json={"token_count": 5000, "task_type": "analysis"})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHORIZED"
    assert "ROUTE_ALLOW_ANONYMOUS" in anonymous.json()["error"]["message"]
    assert not RouteLog.objects.exists() and not LedgerEntry.objects.exists()
    bad = call(asgi_app, "POST", "/api/route-llm", json={"token_count": 1}, headers={"authorization": "Token nope"})
    assert bad.status_code == 401
    member = call(
        asgi_app,
        "POST",
        "/api/route-llm",
        json={"token_count": 5000, "task_type": "analysis"},
        headers={"authorization": f"Token {key}"},
    )
    assert member.status_code == 200 and member.json()["provider_key"] == "gemini-pro"
    assert LedgerEntry.objects.count() == 1


def test_a_session_caller_is_served_by_django_with_its_csrf_check(asgi_app):
    from django.contrib.auth import get_user_model
    from django.test import Client

    get_user_model().objects.create_user("browser-user", password="pw-for-the-test")
    browser = Client()
    assert browser.login(username="browser-user", password="pw-for-the-test")
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    # A session-authenticated POST without a CSRF token: the fast path would route it;
    # the DRF view refuses it, which shows Django answered.
    response = call(asgi_app, "POST", "/api/route-llm", json={"token_count": 5000}, headers={"cookie": cookie})
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert not LedgerEntry.objects.exists()


def test_concurrent_fast_path_requests_are_batched_without_overspending(asgi_app):
    from llmrouter.models import Budget

    Budget.objects.update(amount="0.35")  # ten $0.035 analysis requests

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=asgi_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await asyncio.gather(
                *(
                    client.post("/api/route-llm", json={"token_count": 5000, "task_type": "analysis", "id": i})
                    for i in range(40)
                )
            )

    responses = asyncio.run(go())
    assert sorted(r.status_code for r in responses) == [200] * 10 + [402] * 30
    assert sorted(r.json()["id"] for r in responses) == list(range(40))  # each caller got its own answer
    assert LedgerEntry.objects.count() == 10 and RouteLog.objects.count() == 40


def test_a_failing_request_does_not_sink_its_batch(asgi_app):
    outcomes = dbthread._route_batch(
        [
            {"token_count": 5000, "task_type": "analysis"},
            {"token_count": None, "task_type": "analysis"},  # a bug upstream: not validated
            {"token_count": 5000, "task_type": "coding"},
        ]
    )
    assert outcomes[0].provider_key == "gemini-pro" and outcomes[2].provider_key == "local-llama"
    assert isinstance(outcomes[1], TypeError)
    assert RouteLog.objects.count() == 2
