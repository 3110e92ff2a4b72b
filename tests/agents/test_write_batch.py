"""The one write-batching class, over a real socket pair and a real event loop."""

from __future__ import annotations

import asyncio
import socket

from agents.write_batch import FLUSH_EVERY, NEVER, WriteBatch
from tests.support.inproc import async_test


def _waiting(peer: socket.socket) -> bytes:
    try:
        return peer.recv(1 << 20, socket.MSG_DONTWAIT)
    except BlockingIOError:
        return b""


async def _batch(**kwargs: object) -> tuple[WriteBatch, socket.socket, asyncio.BaseTransport]:
    ours, peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_unix_connection(asyncio.Protocol, sock=ours)
    batch = WriteBatch(loop, **kwargs)  # type: ignore[arg-type]
    batch.transport = transport
    return batch, peer, transport


@async_test
async def test_the_frames_of_one_tick_leave_in_one_write_at_its_end():
    flushes: list[int] = []
    batch, peer, transport = await _batch(on_flush=lambda: flushes.append(1))
    for i in range(3):
        batch.write(b"%d\n" % i)
    assert _waiting(peer) == b"" and flushes == []
    await asyncio.sleep(0)  # the end of the tick: the one scheduled flush runs
    await asyncio.sleep(0.01)
    assert _waiting(peer) == b"0\n1\n2\n" and flushes == [1]
    transport.close()
    peer.close()


@async_test
async def test_a_big_chunk_is_written_every_flush_every_frames_mid_tick():
    batch, peer, transport = await _batch()
    for _ in range(FLUSH_EVERY - 1):
        batch.write(b"x\n")
    assert _waiting(peer) == b""
    batch.write(b"x\n")  # the FLUSH_EVERY-th: written now, before the tick ends
    assert _waiting(peer) == b"x\n" * FLUSH_EVERY
    transport.close()
    peer.close()


@async_test
async def test_never_waits_for_the_end_of_the_tick_and_close_drops_what_is_collected():
    batch, peer, transport = await _batch(flush_every=NEVER)
    for _ in range(FLUSH_EVERY * 2):
        batch.write(b"y\n")
    assert _waiting(peer) == b""
    batch.close()
    batch.write(b"late\n")
    await asyncio.sleep(0.01)
    assert _waiting(peer) == b"" and batch.out == []
    transport.close()
    peer.close()
