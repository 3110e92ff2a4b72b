"""The agent runner's serve loop (heartbeats, caller, drain) and the orchestrator's monitor loop."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.runtime.actions import action
from agents.runtime.base import Agent, RequestContext
from agents.runtime.runner import serve
from agents.runtime.socket_transport import SocketTransport
from orchestrator_site.orchestrator.events import EventHub
from orchestrator_site.orchestrator.monitor import monitor_loop
from tests.support.agents import ProbeAgent
from tests.support.inproc import InProc, async_test, eventually


class RecordingManager(Agent):
    """Stands in for the manager agent: remembers the heartbeats it receives."""

    agent_type = ""
    seen: list[dict[str, Any]] = []

    @action()
    async def heartbeat(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        RecordingManager.seen.append(data)
        return {"ok": True}


@async_test
async def test_runner_sends_heartbeats_to_the_manager_through_the_orchestrator_and_drains_on_stop():
    RecordingManager.seen = []
    async with InProc(types=("probe", "manager")) as sysm:
        await sysm.agent("manager", "MGR", cls=RecordingManager)
        agent = ProbeAgent("HB-1", {})
        agent.agent_type = "probe"

        async def handle(request: dict[str, Any], transport: str) -> dict[str, Any]:
            return await agent.handle(request, transport=transport)

        transport = SocketTransport(agent, handle, instance_id="HB-1", socket_dir=sysm.socket_dir, retry_interval_s=0.2)
        stop = asyncio.Event()
        serving = asyncio.get_running_loop().create_task(
            serve(agent, [transport], drain_timeout_s=10, heartbeat_s=0.2, stop=stop)
        )
        await sysm.wait_ready("probe", "HB-1")
        beat = await eventually(
            lambda: next((d for d in RecordingManager.seen if d["instance"] == "HB-1"), None), "a heartbeat from HB-1"
        )
        assert beat["agent_type"] == "probe" and beat["transports"] == ["socket"] and beat["pid"] > 0
        conn = await sysm.raw()
        await conn.send({"id": "last", "agent": "probe", "action": "slow", "data": {"ms": 300}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the request in flight")
        stop.set()
        frame = await conn.recv()
        assert frame["id"] == "last" and frame["status"] == "success"  # drained before stopping
        await serving
        assert agent.caller is None and transport.state == "CLOSED"


@async_test
async def test_monitor_loop_fans_the_passes_events_out_to_subscribers():
    hub = EventHub()
    received: list[bytes] = []

    class Subscriber:
        def write(self, data: bytes) -> None:
            received.append(data)

    hub.subscribe(Subscriber())

    def one_pass() -> dict[str, Any]:
        return {
            "events": [
                {"event": "provider_health_changed", "provider": "gemini-pro", "healthy": False},
                {"event": "budget_warning", "utilization_pct": 85.0},
                "not an event",
            ]
        }

    task = asyncio.get_running_loop().create_task(monitor_loop(0.05, hub, load=lambda: one_pass))
    try:
        await eventually(lambda: len(received) >= 2, "two events")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert b'"event":"provider_health_changed"' in received[0] and b'"healthy":false' in received[0]
    assert b'"event":"budget_warning"' in received[1]


def test_agent_dials_three_times_with_growing_backoff_then_every_interval():
    from agents.runtime.socket_transport import retry_delay

    # Tries 1, 2, 3 are 0.5 s and 1 s apart; from then on one try every interval (5 s by default), forever.
    assert [retry_delay(n, 5.0) for n in range(1, 7)] == [0.5, 1.0, 5.0, 5.0, 5.0, 5.0]
    assert retry_delay(1000, 5.0) == 5.0


@async_test
async def test_agent_started_before_the_orchestrator_connects_once_it_appears():
    async with InProc() as sysm:
        await sysm.stop_server()
        transport = await sysm.agent("probe", "EARLY", wait=False, retry_interval_s=0.2)
        await eventually(lambda: transport.state == "CONNECTING", "the agent to be dialling")
        await sysm.start_server()
        await sysm.wait_ready("probe", "EARLY")
        assert transport.state == "READY"
