"""End to end: the real site under a Daphne process beside a real orchestrator and agent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.net import free_port
from tests.support.system import PROJECT_ROOT, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def site(system_factory):
    system = system_factory()
    system.start_agent("probe")
    port = free_port()
    with open(system.root / "daphne.log", "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "orchestrator_site.asgi:application"],
            cwd=PROJECT_ROOT,
            env={**system.env, "API_RATE_ROUTE_LLM_ANON": "100000/min"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200,
            90,
            "daphne to answer",
            on_fail=lambda: system.log_tail("daphne"),
        )
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


def test_health_counts_the_orchestrators_agents_and_route_llm_works_under_daphne(site):
    body = httpx.get(f"{site}/health", timeout=10).json()
    assert body["agents"] == 1
    assert body["orchestrator"]["reachable"] is True and body["orchestrator"]["agents_by_type"]["probe"] == 1
    assert body["interfaces"]["socket"] is True
    assert body["llm_router"]["daily_budget"] == 100.0
    assert body["status"] == "healthy", body["problems"]

    started = time.monotonic()
    routed = httpx.post(
        f"{site}/api/route-llm",
        json={"token_count": 5000, "task_type": "coding", "priority": "high", "max_latency": 3000},
        timeout=10,
    )
    assert routed.status_code == 200
    assert routed.json()["provider"] == "Local Llama" and routed.json()["confidence"] == pytest.approx(0.6048)
    assert time.monotonic() - started < 10
    bad = httpx.post(f"{site}/api/route-llm", content=b'{"token_count": "many"}', timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"
    paid = httpx.post(f"{site}/api/route-llm", json={"token_count": 5000, "task_type": "analysis"}, timeout=10).json()
    usage = httpx.post(
        f"{site}/api/route-llm/{paid['decision_id']}/usage",
        json={"prompt_tokens": 100, "completion_tokens": 100},
        timeout=10,
    )
    assert usage.status_code == 200 and usage.json()["actual_cost"] == pytest.approx(0.0014)
    # /health answers from state renewed every second: the settlement shows within a couple of them.
    wait_until(
        lambda: httpx.get(f"{site}/health", timeout=10).json()["llm_router"]["current_spend"] == pytest.approx(0.0014),
        10,
        "the settled spend on /health",
    )
