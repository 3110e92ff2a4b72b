"""After an overload burst the orchestrator gives its memory back (orchestrator_site/orchestrator/memory.py).

A real orchestrator and a probe agent that takes 16 requests at a time: 20,000 requests at once, most of
them queued. Before: about 50 MB at rest, 145 MB at the peak, 125 MB once all were answered.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from agents.client import AsyncClient
from tests.support.memory import rss_mb
from tests.support.system import System, wait_until

pytestmark = pytest.mark.e2e

REQUESTS = 20_000


async def burst(socket_path: str, pid: int) -> tuple[float, set[str]]:
    peak = 0.0
    async with await AsyncClient.connect(socket_path) as client:
        tasks = [
            asyncio.ensure_future(client.request("probe", "slow", {"ms": 1}, timeout_ms=300_000))
            for _ in range(REQUESTS)
        ]
        while not all(t.done() for t in tasks):
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.05)
        return peak, {t.result()["status"] for t in tasks}


def test_the_orchestrator_returns_close_to_its_resting_memory_after_a_burst():
    system = System(env={"ORCHESTRATOR_MAX_QUEUE_PER_TYPE": str(REQUESTS), "DJANGO_WEB_APPS": "0"})
    try:
        system.start()
        system.start_agent("probe", "MEM-PROBE-1", env={"AGENT_MAX_INFLIGHT": "16"})
        pid = system.orchestrator.pid
        time.sleep(1.0)
        rest = rss_mb(pid)
        peak, statuses = asyncio.run(burst(str(system.client_socket), pid))
        assert statuses == {"success"}
        wait_until(
            lambda: "drained: returned free memory" in system.log_tail("orchestrator", 50),
            30,
            "the orchestrator to give memory back",
            on_fail=lambda: system.log_tail("orchestrator"),
        )
        after = rss_mb(pid)
        grown = peak - rest
        assert grown > 30, (rest, peak)  # the burst really cost memory
        # Before: 45-80% of the growth stayed (90-125 MB of 145); now under a tenth.
        assert after - rest < grown / 4, (rest, peak, after)
    finally:
        system.stop()
