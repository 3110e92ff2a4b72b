"""/health answers from state kept fresh in the background, through the real ASGI application
(fast path) with a real orchestrator: one check a second however many requests, never stale for long."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from llmrouter import services
from tests.llmrouter.conftest import load_seed
from tests.web.conftest import asgi_client, run_async

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_refresh(settings: Any) -> float:
    settings.WEB = {**settings.WEB, "HEALTH_REFRESH_S": 0.2}
    return 0.2


@run_async
async def test_many_health_requests_cost_one_check_per_refresh_period(orchestrator, fast_refresh):
    from orchestrator_site import health

    await asyncio.to_thread(load_seed)
    async with asgi_client() as client:
        first = await client.get("/health")
        checks_before = health._state.checks
        started = time.monotonic()
        bodies = []
        for _ in range(10):
            answers = await asyncio.gather(*(client.get("/health") for _ in range(30)))
            bodies += [a.json() for a in answers]
        elapsed = time.monotonic() - started
        checks = health._state.checks - checks_before
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert len(bodies) == 300 and all(b["agents"] == 2 and b["orchestrator"]["reachable"] for b in bodies)
    assert {"status", "agents", "timestamp", "interfaces", "llm_router", "orchestrator", "problems"} == set(bodies[0])
    # Per request this was an orchestrator round trip, a Redis ping and the budget queries.
    assert checks <= elapsed / fast_refresh + 2, (checks, elapsed)


@run_async
async def test_health_shows_a_change_within_a_refresh_period_or_two(orchestrator, fast_refresh):
    await asyncio.to_thread(load_seed)
    async with asgi_client() as client:
        before = (await client.get("/health")).json()["llm_router"]["current_spend"]
        await asyncio.to_thread(services.route_request, token_count=5000, task_type="analysis")  # $0.035
        deadline = time.monotonic() + 10  # generous: the machine is shared
        while True:
            spend = (await client.get("/health")).json()["llm_router"]["current_spend"]
            if spend == pytest.approx(before + 0.035):
                break
            assert time.monotonic() < deadline, (before, spend)
            await asyncio.sleep(0.05)


@run_async
async def test_the_refresher_stops_when_nobody_reads(orchestrator, fast_refresh, monkeypatch):
    from orchestrator_site import health

    monkeypatch.setattr(health, "IDLE_STOP_S", 0.5)
    async with asgi_client() as client:
        assert (await client.get("/health")).status_code == 200
        refresher = health._state._refresher
        assert refresher is not None and not refresher.done()
        await asyncio.wait_for(refresher, 10)
        checks = health._state.checks
        await asyncio.sleep(0.5)
        assert health._state.checks == checks  # nothing runs for nobody
        assert (await client.get("/health")).status_code == 200  # and the next reader starts it again
        assert not health._state._refresher.done()
