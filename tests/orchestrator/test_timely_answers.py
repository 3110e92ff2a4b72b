"""Callers always get a timely, true answer (issue 14, items 1, 4 and 5), in-process over real Unix sockets."""
from __future__ import annotations

import asyncio
import socket

import orjson

from agents.protocol import ErrorCode
from tests.support.inproc import InProc, RawConn, async_test, eventually


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
            sysm, [{"id": f"sub{i}", "agent": "orchestrator", "action": "subscribe"} for i in range(5)])
        for conn in conns:
            assert (await conn.recv())["status"] == "success"
        await asyncio.sleep(0.8)
        for conn in conns:
            assert await conn.request({"type": "ping"}) == {"type": "pong"}


@async_test
async def test_a_request_that_times_out_in_the_queue_gives_its_place_back_at_once():
    async with InProc(max_queue_per_type=2) as sysm:
        await sysm.agent("probe", max_inflight=1)
        conn = await sysm.raw()
        await conn.send({"id": "busy", "agent": "probe", "action": "slow", "data": {"ms": 2500}})
        for i in range(2):
            await conn.send({"id": f"q{i}", "agent": "probe", "action": "echo", "data": {}, "timeout_ms": 100})
        timed_out = [await conn.recv() for _ in range(2)]
        assert {f["id"]: f["error"]["code"] for f in timed_out} == {"q0": ErrorCode.TIMEOUT, "q1": ErrorCode.TIMEOUT}
        status = await conn.request({"id": "st", "agent": "orchestrator", "action": "status"})
        assert status["data"]["types"]["probe"]["queued"] == 0
        await conn.send({"id": "next", "agent": "probe", "action": "echo", "data": {"n": 1}})
        frames = {f["id"]: f for f in await conn.recv_n(2)}
        assert frames["next"]["status"] == "success", frames["next"]  # queued, not OVERLOADED
        assert frames["busy"]["status"] == "success"
