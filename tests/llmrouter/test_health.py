"""GET /health: the seed's shape, provider health, degraded when something is wrong."""

from __future__ import annotations

import pytest
from django.test import Client

from llmrouter import services
from llmrouter.models import Budget, Provider


@pytest.fixture
def no_orchestrator(settings, tmp_path):
    # A socket directory where nothing listens: the orchestrator is "down".
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": tmp_path}
    settings.LLMROUTER = {**settings.LLMROUTER, "HEALTH_ORCHESTRATOR_TIMEOUT_S": 0.5}


def test_health_has_the_seed_shape_and_reports_spend(seed_router, no_orchestrator):
    Budget.objects.update(amount="0.07")
    services.route_request(token_count=5000, task_type="analysis")  # $0.035: 50%
    body = Client().get("/health").json()
    assert {"status", "agents", "timestamp", "interfaces", "llm_router"} <= set(body)
    router = body["llm_router"]
    assert (router["daily_budget"], router["current_spend"], router["remaining"], router["utilization_pct"]) == (
        0.07,
        0.035,
        0.035,
        50.0,
    )
    assert [p["key"] for p in router["providers"]] == ["claude-sonnet-4", "gpt-4-turbo", "gemini-pro", "local-llama"]
    assert body["agents"] == 0 and body["orchestrator"]["reachable"] is False
    assert body["status"] == "degraded"  # the orchestrator is not there
    assert any("orchestrator unreachable" in p for p in body["problems"])


def test_health_names_unhealthy_providers_and_budget_warnings(seed_router, no_orchestrator):
    Provider.objects.filter(key="gpt-4-turbo").update(health_state="unhealthy", last_error="HTTP 503")
    Budget.objects.update(amount="0.04")
    services.route_request(token_count=5000, task_type="analysis")  # 87.5%
    body = Client().get("/health").json()
    problems = " | ".join(body["problems"])
    assert "provider gpt-4-turbo is unhealthy: HTTP 503" in problems
    assert "past its warning threshold" in problems
    assert body["status"] == "degraded"


def test_health_reveals_no_secrets(seed_router, no_orchestrator, settings):
    text = Client().get("/health").content.decode()
    assert settings.SECRET_KEY not in text
    assert settings.REDIS_URL not in text
    assert str(settings.ORCHESTRATOR["SOCKET_DIR"]) not in text
