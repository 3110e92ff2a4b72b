"""HTTP through the real URL conf: routing, usage, CRUD permissions, filters."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from llmrouter.models import Budget, LedgerEntry, Provider, RouteLog

WORKED = {"token_count": 5000, "task_type": "coding", "priority": "high", "max_latency": 3000, "interface": "web"}


@pytest.fixture
def anon() -> APIClient:
    return APIClient()


@pytest.fixture
def user_client(db) -> APIClient:
    user = get_user_model().objects.create_user("reader")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def staff_client(db) -> APIClient:
    user = get_user_model().objects.create_user("staff", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def post_json(client: APIClient, url: str, body) -> object:
    return client.post(
        url, body if isinstance(body, (str, bytes)) else __import__("json").dumps(body), content_type="application/json"
    )


def test_route_llm_answers_the_seed_response_with_breakdown(seed_router, anon):
    response = post_json(anon, "/api/route-llm", {**WORKED, "id": "req-7"})
    assert response.status_code == 200
    body = response.json()
    assert body["provider"] == "Local Llama" and body["provider_key"] == "local-llama"
    assert body["confidence"] == pytest.approx(0.6048)
    assert body["estimated_cost"] == 0
    assert body["reasoning"].startswith("Selected for:")
    assert body["id"] == "req-7" and body["status"] == "success"
    assert [c["provider"] for c in body["candidates"]] == [
        "claude-sonnet-4",
        "gpt-4-turbo",
        "gemini-pro",
        "local-llama",
    ]
    assert RouteLog.objects.get(decision_id=body["decision_id"]).interface == "anonymous"  # no token


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"task_type": "coding"}, "VALIDATION_ERROR", "token_count"),
        ({"token_count": -1}, "VALIDATION_ERROR", "token_count"),
        ({"token_count": "5000"}, "VALIDATION_ERROR", "token_count"),
        ({"token_count": 5000.5}, "VALIDATION_ERROR", "token_count"),
        ({"token_count": True}, "VALIDATION_ERROR", "token_count"),
        ({"token_count": 10, "priority": "urgent"}, "VALIDATION_ERROR", "priority"),
        ({"token_count": 10, "max_latency": -5}, "VALIDATION_ERROR", "max_latency"),
        ({"token_count": 10, "task_type": 7}, "VALIDATION_ERROR", "task_type"),
        ("{not json", "INVALID_JSON", None),
        ("", "INVALID_JSON", None),
        ("[1, 2]", "INVALID_REQUEST", None),
    ],
)
def test_bad_input_is_400_with_the_protocol_error_body_and_reserves_nothing(seed_router, anon, body, code, field):
    response = post_json(anon, "/api/route-llm", body)
    assert response.status_code == 400
    payload = response.json()
    assert payload["status"] == "error" and payload["error"]["code"] == code
    assert payload["error"]["message"]
    if field:
        assert payload["error"]["details"]["field"] == field
    assert not RouteLog.objects.exists() and not LedgerEntry.objects.exists()


def test_budget_exceeded_is_402_with_exclusions(seed_router, user_client):
    Budget.objects.update(amount="0.01")
    response = post_json(user_client, "/api/route-llm", {"token_count": 5000, "task_type": "analysis"})
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["code"] == "BUDGET_EXCEEDED"
    assert set(error["details"]["excluded"]) == {"claude-sonnet-4", "gpt-4-turbo", "gemini-pro", "local-llama"}


def test_anonymous_routing_can_be_switched_off(seed_router, anon, user_client, settings):
    settings.LLMROUTER = {**settings.LLMROUTER, "ROUTE_ALLOW_ANONYMOUS": False}
    assert post_json(anon, "/api/route-llm", WORKED).status_code in (401, 403)
    assert post_json(user_client, "/api/route-llm", WORKED).status_code == 200


def test_usage_report_settles_once(seed_router, user_client):
    routed = post_json(user_client, "/api/route-llm", {"token_count": 5000, "task_type": "analysis"}).json()
    url = f"/api/route-llm/{routed['decision_id']}/usage"
    first = post_json(user_client, url, {"prompt_tokens": 1000, "completion_tokens": 500})
    again = post_json(user_client, url, {"prompt_tokens": 1000, "completion_tokens": 500})
    assert first.status_code == again.status_code == 200
    assert first.json()["actual_cost"] == pytest.approx(0.0105)  # 1500 * $7 / 1e6
    assert (first.json()["already_settled"], again.json()["already_settled"]) == (False, True)
    assert LedgerEntry.objects.filter(kind="settlement").count() == 1
    assert post_json(user_client, url, {"prompt_tokens": 1}).status_code == 400
    assert post_json(user_client, url, {"prompt_tokens": 9, "completion_tokens": 9}).status_code == 409
    missing = post_json(user_client, "/api/route-llm/rt_missing/usage", {"prompt_tokens": 1, "completion_tokens": 1})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND"


def test_provider_reads_need_auth_and_writes_need_staff(seed_router, anon, user_client, staff_client):
    assert anon.get("/api/providers/").status_code in (401, 403)
    listing = user_client.get("/api/providers/")
    assert listing.status_code == 200
    assert [p["key"] for p in listing.json()["results"]] == [
        "claude-sonnet-4",
        "gpt-4-turbo",
        "gemini-pro",
        "local-llama",
    ]
    assert user_client.patch("/api/providers/local-llama/", {"enabled": False}, format="json").status_code == 403
    assert staff_client.patch("/api/providers/local-llama/", {"enabled": False}, format="json").status_code == 200
    assert Provider.objects.get(key="local-llama").enabled is False
    bad = staff_client.patch("/api/providers/local-llama/", {"quality": 1.5}, format="json")
    assert bad.status_code == 400
    created = staff_client.post(
        "/api/providers/",
        {
            "key": "mini",
            "name": "Mini",
            "cost_per_1m": "0.50",
            "context_window": 16000,
            "latency_ms": 300,
            "quality": 0.6,
            "capabilities": ["coding"],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    assert (
        staff_client.post(
            "/api/providers/",
            {
                "key": "x",
                "name": "X",
                "cost_per_1m": "1",
                "context_window": 1,
                "latency_ms": 1,
                "quality": 0.5,
                "capabilities": "coding",
            },
            format="json",
        ).status_code
        == 400
    )


def test_provider_key_auto_is_refused_it_is_the_gateways_router_picks_model(seed_router, staff_client):
    body = {"key": "auto", "name": "A", "cost_per_1m": "1", "context_window": 10, "latency_ms": 1, "quality": 0.5}
    refused = staff_client.post("/api/providers/", body, format="json")
    assert refused.status_code == 400, refused.content
    assert "reserved" in refused.json()["error"]["details"]["fields"]["key"][0]
    assert not Provider.objects.filter(key="auto").exists()


def test_budgets_are_editable_by_staff_and_report_status(seed_router, user_client, staff_client):
    budget = Budget.objects.get()
    assert user_client.patch(f"/api/budgets/{budget.pk}/", {"amount": "5"}, format="json").status_code == 403
    assert (
        staff_client.patch(f"/api/budgets/{budget.pk}/", {"timezone": "Nowhere/City"}, format="json").status_code == 400
    )
    assert staff_client.patch(f"/api/budgets/{budget.pk}/", {"amount": "5.00"}, format="json").status_code == 200
    status = user_client.get("/api/budgets/status/").json()
    assert status[0]["amount"] == 5.0 and status[0]["remaining"] == 5.0


def test_route_logs_and_ledger_are_read_only_filterable_and_paginated(seed_router, user_client, staff_client):
    for interface in ("cli", "web", "web"):
        post_json(user_client, "/api/route-llm", {"token_count": 5000, "task_type": "analysis", "interface": interface})
    post_json(user_client, "/api/route-llm", {"token_count": 5, "task_type": "vision", "interface": "web"})
    logs = user_client.get("/api/route-logs/", {"interface": "web"}).json()
    assert logs["count"] == 3
    assert user_client.get("/api/route-logs/", {"outcome": "NO_SUITABLE_PROVIDER"}).json()["count"] == 1
    assert user_client.get("/api/route-logs/", {"provider": "gemini-pro"}).json()["count"] == 3
    assert user_client.get("/api/route-logs/", {"since": "2999-01-01T00:00:00Z"}).json()["count"] == 0
    assert user_client.get("/api/route-logs/", {"since": "yesterday"}).status_code == 400
    one = user_client.get("/api/route-logs/", {"outcome": "routed"}).json()["results"][0]
    detail = user_client.get(f"/api/route-logs/{one['decision_id']}/").json()
    assert detail["candidates"] and detail["outcome"] == "routed"
    ledger = user_client.get("/api/ledger/", {"provider": "gemini-pro", "kind": "reservation"}).json()
    assert ledger["count"] == 3 and ledger["results"][0]["amount"] == pytest.approx(0.035)
    assert staff_client.delete(f"/api/ledger/{ledger['results'][0]['id']}/").status_code == 405
    assert staff_client.post("/api/route-logs/", {}, format="json").status_code == 405
    assert "next" in user_client.get("/api/route-logs/").json()


def test_route_logs_logged_with_float_noise_come_out_rounded(seed_router, user_client):
    from llmrouter import services

    result = services.route_request(token_count=5000, task_type="coding", priority="high", max_latency=3000)
    log = RouteLog.objects.get(decision_id=result.decision_id)
    noisy = [
        dict(c, score=0.13679999999999998, request_cost=0.075) if c["provider"] == "claude-sonnet-4" else c
        for c in log.candidates
    ]
    RouteLog.objects.filter(pk=log.pk).update(candidates=noisy, confidence=0.6048000000000001)
    detail = user_client.get(f"/api/route-logs/{result.decision_id}/").json()
    by_key = {c["provider"]: c for c in detail["candidates"]}
    assert by_key["claude-sonnet-4"]["score"] == 0.1368 and by_key["claude-sonnet-4"]["request_cost"] == 0.075
    assert detail["confidence"] == 0.6048
