"""An agent link's lifecycle in one owner: each transition publishes its event once, in order."""

from __future__ import annotations

import pytest

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from tests.support.inproc import InProc, async_test, eventually


def _hello(**fields: object) -> dict[str, object]:
    frame: dict[str, object] = {"type": "hello", "agent": "probe", "instance": "LC1", "actions": ["echo"]}
    frame.update(fields)
    return frame


@async_test
async def test_every_link_transition_publishes_its_event_once_and_in_order():
    async with InProc() as sysm:
        watcher = await sysm.raw()
        assert (await watcher.request({"agent": "orchestrator", "action": "subscribe"}))["status"] == "success"
        agent = await sysm.raw(sysm.type_socket("probe"))
        welcome = await agent.request(_hello(max_inflight=3, pid=4242))
        assert welcome["type"] == "welcome" and welcome["instance"] == "LC1" and welcome["max_inflight"] == 3
        await agent.send({"type": "draining", "instance": "LC1"})
        await agent.send({"type": "draining", "instance": "LC1"})  # no second transition, so no second event
        await eventually(lambda: sysm.server.dispatcher.pools["probe"][0].state == "DRAINING", "DRAINING")
        agent.close()
        events = [await watcher.recv() for _ in range(3)]
        assert [(e["event"], e["instance"]) for e in events] == [
            ("agent_connected", "LC1"),
            ("agent_draining", "LC1"),
            ("agent_disconnected", "LC1"),
        ]
        assert events[0]["pid"] == 4242 and events[2]["pid"] == 4242
        await eventually(lambda: "probe" not in sysm.server.dispatcher.pools, "the link leaves its pool")
        status = await watcher.request({"id": "st", "agent": "orchestrator", "action": "status"})
        assert status["id"] == "st"  # nothing else (a second agent_draining) was queued before the answer


@async_test
async def test_a_refused_hello_publishes_nothing_and_joins_no_pool():
    async with InProc() as sysm:
        watcher = await sysm.raw()
        await watcher.request({"agent": "orchestrator", "action": "subscribe"})
        agent = await sysm.raw(sysm.type_socket("probe"))
        refused = await agent.request(_hello(actions="echo"))
        assert refused["error"]["code"] == ErrorCode.INVALID_REQUEST
        assert await agent.closed_by_peer()
        assert "probe" not in sysm.server.dispatcher.pools
        status = await watcher.request({"id": "st", "agent": "orchestrator", "action": "status"})
        assert status["id"] == "st"  # no agent_connected / agent_disconnected before it


def test_parse_hello_reads_what_hello_builds():
    frame = protocol.hello("probe", "I1", ["echo", "slow"], max_inflight=7, pid=12, idempotent_actions=["echo", 3])
    hello = protocol.parse_hello(frame, agent_type="probe")
    assert (hello.instance, hello.actions, hello.idempotent_actions) == ("I1", {"echo", "slow"}, {"echo"})
    assert (hello.max_inflight, hello.pid, hello.token) == (7, 12, None)


@pytest.mark.parametrize("max_inflight", [None, 0, -1, True, "8", 2.5])
def test_parse_hello_defaults_a_bad_max_inflight_to_64(max_inflight: object) -> None:
    hello = protocol.parse_hello(_hello(max_inflight=max_inflight, pid="x"), agent_type="probe")
    assert hello.max_inflight == 64 and hello.pid is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"agent": "other"}, "Hello from agent type 'other' on the socket of type 'probe'"),
        ({"instance": ""}, "Hello needs 'instance' (a string of 1-100 characters)"),
        ({"instance": "x" * 101}, "Hello needs 'instance' (a string of 1-100 characters)"),
        ({"actions": ["echo", 1]}, "Hello needs 'actions' (a list of action names)"),
    ],
)
def test_parse_hello_refuses_a_bad_hello_with_invalid_request(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        protocol.parse_hello(_hello(**fields), agent_type="probe")
    assert caught.value.code == ErrorCode.INVALID_REQUEST and str(caught.value) == message
