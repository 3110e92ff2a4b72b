"""Callers always get a timely, true answer (issue 14, items 1, 4 and 5), in-process over real Unix sockets."""

from __future__ import annotations

import asyncio
import socket

import orjson

from agents.protocol import ErrorCode
from tests.support.inproc import InProc, ManualClock, RawConn, async_test, eventually


async def _connect_and_send_before_the_loop_runs(sysm: InProc, frames: list[dict]) -> list[RawConn]:
    """Each frame on its own connection, connected and sent without yielding to the event loop.

    The orchestrator (same loop) then accepts the connection and reads its request in the same
    loop iteration or the next: with uvloop's 1 ms clock, "opened" and "last active" are equal.
    """
    socks = []
    for frame in frames:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(str(sysm.client_socket))
        sock.sendall(orjson.dumps(frame) + b"\n")
        socks.append(sock)
    conns = []
    for sock in socks:
        sock.setblocking(False)
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        conns.append(RawConn(reader, writer))
    return conns


@async_test
async def test_a_client_that_sent_its_request_at_once_is_never_closed_as_silent():
    async with InProc(client_silent_timeout_s=0.3) as sysm:
        await sysm.agent("probe")
        frames = [{"id": f"s{i}", "agent": "probe", "action": "slow", "data": {"ms": 1200}} for i in range(20)]
        conns = await _connect_and_send_before_the_loop_runs(sysm, frames)
        answers = [await conn.recv() for conn in conns]
        assert [a["id"] for a in answers] == [f["id"] for f in frames]
        assert all(a["status"] == "success" for a in answers)


@async_test
async def test_a_connection_that_never_sent_a_byte_is_still_closed_as_silent():
    async with InProc(client_silent_timeout_s=0.3) as sysm:
        conn = await sysm.raw()
        assert await conn.closed_by_peer(timeout=10)


@async_test
async def test_a_subscriber_is_never_closed_as_silent_or_idle():
    async with InProc(client_silent_timeout_s=0.2, client_idle_timeout_s=0.2) as sysm:
        conns = await _connect_and_send_before_the_loop_runs(
            sysm, [{"id": f"sub{i}", "agent": "orchestrator", "action": "subscribe"} for i in range(5)]
        )
        for conn in conns:
            assert (await conn.recv())["status"] == "success"
        await asyncio.sleep(0.8)
        for conn in conns:
            assert await conn.request({"type": "ping"}) == {"type": "pong"}


@async_test
async def test_a_request_that_times_out_in_the_queue_gives_its_place_back_at_once():
    clock = ManualClock()
    async with InProc(max_queue_per_type=2, clock=clock) as sysm:
        await sysm.agent("probe", max_inflight=1)
        conn = await sysm.raw()
        await conn.send({"id": "busy", "agent": "probe", "action": "slow", "data": {"ms": 2500}, "timeout_ms": 600_000})
        for i in range(2):
            await conn.send({"id": f"q{i}", "agent": "probe", "action": "echo", "data": {}, "timeout_ms": 60_000})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 3, "three requests pending")
        clock.advance(61)
        timed_out = [await conn.recv() for _ in range(2)]
        assert {f["id"]: f["error"]["code"] for f in timed_out} == {"q0": ErrorCode.TIMEOUT, "q1": ErrorCode.TIMEOUT}
        status = await conn.request({"id": "st", "agent": "orchestrator", "action": "status"})
        assert status["data"]["types"]["probe"]["queued"] == 0
        await conn.send({"id": "next", "agent": "probe", "action": "echo", "data": {"n": 1}})
        frames = {f["id"]: f for f in await conn.recv_n(2)}
        assert frames["next"]["status"] == "success", frames["next"]  # queued, not OVERLOADED
        assert frames["busy"]["status"] == "success"


def _may_have_run(frame: dict) -> bool:
    return frame["error"]["details"]["may_have_run"]


@async_test
async def test_every_timeout_says_whether_the_work_may_have_been_done():
    clock = ManualClock()
    async with InProc(clock=clock) as sysm:
        await sysm.agent("probe", max_inflight=1)
        conn = await sysm.raw()
        await conn.send(
            {"id": "running", "agent": "probe", "action": "slow", "data": {"ms": 5000}, "timeout_ms": 60_000}
        )
        await conn.send({"id": "queued", "agent": "probe", "action": "echo", "data": {}, "timeout_ms": 60_000})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 2, "two requests pending")
        clock.advance(61)
        frames = {f["id"]: f for f in await conn.recv_n(2)}
        assert {i: f["error"]["code"] for i, f in frames.items()} == {"running": "TIMEOUT", "queued": "TIMEOUT"}
        assert _may_have_run(frames["running"]) is True  # the agent has it
        assert _may_have_run(frames["queued"]) is False  # it never left the queue


@async_test
async def test_agent_disconnected_says_the_work_may_have_been_done():
    async with InProc() as sysm:
        transport = await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send({"id": "lost", "agent": "probe", "action": "slow", "data": {"ms": 60_000}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the request in flight")
        transport.conn.transport.abort()
        frame = await conn.recv(timeout=10)
        assert frame["error"]["code"] == ErrorCode.AGENT_DISCONNECTED and _may_have_run(frame) is True


@async_test
async def test_shutting_down_says_whether_the_work_may_have_been_done():
    async with InProc(drain_timeout_s=0.5) as sysm:
        await sysm.agent("probe", max_inflight=1)
        conn = await sysm.raw()
        await conn.send({"id": "long", "agent": "probe", "action": "slow", "data": {"ms": 30_000}})
        await conn.send({"id": "waiting", "agent": "probe", "action": "echo", "data": {}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 2, "both requests accepted")
        stopping = asyncio.get_running_loop().create_task(sysm.stop_server())
        await eventually(lambda: sysm.server is None or sysm.server.dispatcher.draining, "the drain")
        await conn.send({"id": "late", "agent": "probe", "action": "echo", "data": {}})
        frames = {f["id"]: f for f in await conn.recv_n(3)}
        await stopping
        assert {i: f["error"]["code"] for i, f in frames.items()} == dict.fromkeys(frames, "SHUTTING_DOWN")
        assert _may_have_run(frames["long"]) is True
        assert _may_have_run(frames["waiting"]) is False
        assert _may_have_run(frames["late"]) is False


@async_test
async def test_the_agent_refusing_work_while_it_drains_says_it_did_not_run():
    async with InProc() as sysm:
        transport = await sysm.agent("probe")
        conn = await sysm.raw(sysm.type_socket("probe"))
        # Straight to the agent's own connection: what it answers while draining.
        transport._transition(transport.state.__class__.DRAINING)
        frame = await conn.request({"id": "d", "action": "echo", "data": {}})
        assert frame["error"]["code"] == ErrorCode.SHUTTING_DOWN and _may_have_run(frame) is False


@async_test
async def test_queued_requests_of_a_client_that_went_away_never_run():
    async with InProc() as sysm:
        await sysm.agent("probe", max_inflight=1)
        stays, leaves = await sysm.raw(), await sysm.raw()
        await stays.send({"id": "busy", "agent": "probe", "action": "slow", "data": {"ms": 600}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the busy request in flight")
        assert (await leaves.request({"id": "sub", "agent": "orchestrator", "action": "subscribe"}))["id"] == "sub"
        await leaves.send({"id": "gone", "agent": "probe", "action": "slow", "data": {"ms": 0}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 2, "the second request queued")
        leaves.close()
        # A closed Unix socket looks half-closed (nc) until the next write to it fails: an event does that.
        await asyncio.sleep(0.1)
        sysm.server.events.publish("test_nudge")
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the gone client's request dropped")
        assert (await stays.recv())["id"] == "busy"
        assert (await stays.request({"id": "after", "agent": "probe", "action": "echo", "data": {}}))["id"] == "after"
        (link,) = sysm.server.dispatcher.pools["probe"]
        assert link.handled == 2  # busy and after: the gone client's request never reached the agent


def test_security_md_says_to_retry_every_code_that_may_have_run():
    from pathlib import Path

    from agents.protocol import UNFINISHED_CODES

    text = (Path(__file__).resolve().parents[2] / "SECURITY.md").read_text()
    advice = text[text.index("Retrying safely") :].split("\n\n")[0]
    missing = [code for code in sorted(UNFINISHED_CODES) if f"`{code}`" not in advice]
    assert missing == [], f"SECURITY.md's retry advice does not name {missing}"
