"""The client library (agents.client) against an in-process orchestrator."""

from __future__ import annotations

import asyncio

import pytest

from agents.client import Client
from agents.management.commands.send import parse_pairs
from tests.support.inproc import InProc, async_test


@async_test
async def test_async_client_keeps_many_requests_in_flight_on_one_connection():
    async with InProc() as sysm:
        await sysm.agent("probe")
        client = await sysm.client()
        slow = asyncio.ensure_future(client.request("probe", "slow", {"ms": 300}))
        frames = await asyncio.gather(*(client.request("probe", "echo", {"i": i}) for i in range(300)))
        assert [f["data"]["i"] for f in frames] == list(range(300))
        assert not slow.done()  # the echoes overtook it on the same connection
        assert (await slow)["status"] == "success"


@async_test
async def test_async_client_send_returns_the_callers_own_id():
    async with InProc() as sysm:
        await sysm.agent("probe")
        client = await sysm.client()
        frame = await client.send({"id": "own-7", "agent": "probe", "action": "echo", "data": {"a": 1}})
        assert frame["id"] == "own-7" and frame["data"] == {"a": 1}


@async_test
async def test_async_client_reconnects_lazily_after_the_orchestrator_restarts():
    async with InProc() as sysm:
        await sysm.agent("probe", "R1")
        client = await sysm.client()
        assert (await client.request("probe", "echo"))["status"] == "success"
        await sysm.stop_server()
        await sysm.start_server()
        await sysm.wait_ready("probe", "R1")
        frame = await client.request("probe", "echo", {"back": True})
        assert frame["data"] == {"back": True}


@async_test
async def test_async_client_receives_events_after_subscribe():
    async with InProc() as sysm:
        client = await sysm.client()
        assert (await client.subscribe())["status"] == "success"
        await sysm.agent("probe", "EVC")
        event = await client.next_event(timeout=30)
        assert event["event"] == "agent_connected" and event["instance"] == "EVC"


@async_test
async def test_sync_client_works_from_a_thread_and_keeps_the_callers_id():
    async with InProc() as sysm:
        await sysm.agent("probe")

        def use() -> tuple[dict, dict]:
            with Client(sysm.client_socket) as client:
                return (
                    client.request("probe", "echo", {"n": 1}),
                    client.send({"id": 42, "agent": "probe", "action": "echo", "data": {"n": 2}}),
                )

        first, second = await asyncio.to_thread(use)
        assert first["data"] == {"n": 1}
        assert second["id"] == 42 and second["data"] == {"n": 2}


def test_sync_client_without_orchestrator_raises_a_connection_error(tmp_path):
    with pytest.raises(OSError):
        Client(tmp_path / "nothing.sock").request("probe", "echo")


@async_test
async def test_async_client_in_flight_requests_fail_with_connection_error_when_the_orchestrator_dies():
    async with InProc() as sysm:
        await sysm.agent("probe")
        client = await sysm.client()
        pending = asyncio.ensure_future(client.request("probe", "slow", {"ms": 60_000}))
        await asyncio.sleep(0.2)
        for conn in list(sysm.server.connections):
            if conn.link is None:
                conn.transport.abort()
        with pytest.raises(ConnectionError):
            await pending


def test_send_command_parses_values_as_json_when_they_parse():
    assert parse_pairs(["environment=test", "n=3", "flag=true", 'tags=["a","b"]', "empty=", "x=1.5"]) == {
        "environment": "test",
        "n": 3,
        "flag": True,
        "tags": ["a", "b"],
        "empty": "",
        "x": 1.5,
    }


@async_test
async def test_clients_carry_on_transparently_after_an_idle_close():
    async with InProc(client_idle_timeout_s=0.2) as sysm:
        await sysm.agent("probe")
        client = await sysm.client()
        assert (await client.request("probe", "echo", {"n": 1}))["status"] == "success"
        await asyncio.sleep(1.0)
        assert (await client.request("probe", "echo", {"n": 2}))["data"] == {"n": 2}

        def use_sync() -> list[dict]:
            with Client(sysm.client_socket) as sync:
                first = sync.request("probe", "echo", {"n": 3})
                import time

                time.sleep(1.0)
                return [first, sync.request("probe", "echo", {"n": 4})]

        frames = await asyncio.to_thread(use_sync)
        assert [f["data"] for f in frames] == [{"n": 3}, {"n": 4}]
