"""Slow and hostile clients against a real orchestrator: nobody else stalls, memory stays bounded.

* a client that connects and sends nothing is closed by the silent-client timeout
  (ORCHESTRATOR_CLIENT_SILENT_TIMEOUT_S; 3 s in these tests);
* a client that sends a frame one byte a second holds only its own connection;
* a client that pipelines thousands of requests and never reads its answers
  is paused (the orchestrator stops reading from it once its write buffer is
  past the high-water mark), so the orchestrator's RSS does not follow the
  bytes it is offered.
"""

from __future__ import annotations

import socket
import threading
import time

import orjson
import pytest

from tests.hardening.conftest import SILENT_TIMEOUT_S, LineSocket
from tests.support.memory import rss_kb
from tests.support.system import System, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture
def system(fuzz_system) -> System:
    return fuzz_system


def normal_traffic(system: System, n: int = 200) -> list[float]:
    """Round-trip times of ``n`` echo requests from a well-behaved client; all must succeed."""
    times = []
    with system.client() as client:
        for i in range(n):
            started = time.perf_counter()
            frame = client.request("probe", "echo", {"i": i}, timeout_ms=30_000)
            times.append(time.perf_counter() - started)
            assert frame["status"] == "success" and frame["data"] == {"i": i}, frame
    return times


def test_a_silent_connection_is_closed_by_the_silent_timeout_and_blocks_nobody(system):
    silent = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(50)]
    try:
        started = time.monotonic()
        for sock in silent:
            sock.connect(str(system.client_socket))
            sock.settimeout(60)
        with system.client() as talker:  # a client that speaks (our library says hello first): kept
            normal_traffic(system, 100)
            # Every silent connection is closed by the orchestrator (EOF), well before our 60 s timeout.
            for sock in silent:
                assert sock.recv(1024) == b""
            assert time.monotonic() - started >= SILENT_TIMEOUT_S * 0.9
            assert talker.request("probe", "echo", {"still": "here"}, timeout_ms=30_000)["status"] == "success"
    finally:
        for sock in silent:
            sock.close()
    normal_traffic(system, 10)


def test_a_frame_sent_one_byte_a_second_does_not_stall_other_clients(system):
    frame = orjson.dumps({"id": "slow-1", "agent": "probe", "action": "echo", "data": {}}) + b"\n"
    head, tail = frame[:-8], frame[-8:]
    answer: dict = {}

    def dribble() -> None:
        with LineSocket(system.client_socket, timeout=60) as conn:
            conn.send(head)
            for byte in tail:  # the last 8 bytes one per second
                time.sleep(1.0)
                conn.send(bytes([byte]))
            answer["frame"] = conn.read_frame()

    thread = threading.Thread(target=dribble)
    thread.start()
    try:
        started = time.monotonic()
        while thread.is_alive() and time.monotonic() - started < 30:
            normal_traffic(system, 50)  # keeps being served while the slow frame trickles in
    finally:
        thread.join(60)
    assert answer["frame"]["id"] == "slow-1" and answer["frame"]["status"] == "success", answer


def test_a_client_that_never_reads_is_paused_and_memory_stays_bounded(system):
    pid = system.orchestrator.pid
    normal_traffic(system, 50)  # warm up allocations before the baseline
    baseline = rss_kb(pid)
    payload = "x" * 900
    batch = b"".join(
        orjson.dumps({"id": i, "agent": "probe", "action": "echo", "data": {"p": payload}}) + b"\n" for i in range(1000)
    )
    offered = 64 * 1024 * 1024
    sent = 0
    hostile = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    hostile.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # we never read: keep the kernel's share small
    hostile.connect(str(system.client_socket))
    hostile.settimeout(3.0)
    try:
        try:
            while sent < offered:
                hostile.sendall(batch)
                sent += len(batch)
        except TimeoutError:
            pass  # the orchestrator stopped reading from us: backpressure
        during = rss_kb(pid)
        # Other clients are still served while the hostile one sits on its unread answers.
        normal_traffic(system, 100)
        assert sent < offered, "the orchestrator kept reading from a client that never reads its answers"
        growth_mb = (during - baseline) / 1024
        assert growth_mb < 64, f"RSS grew {growth_mb:.0f} MB for {sent / 2**20:.0f} MB accepted"
    finally:
        hostile.close()
    normal_traffic(system, 10)
    # Closing the hostile client frees what it held (answers in flight are dropped).
    wait_until(lambda: rss_kb(pid) < during + 16 * 1024, 30, "the orchestrator's RSS to stay bounded after close")
    print(
        f"never-reading client: {sent / 2**20:.1f} MB accepted before backpressure; "
        f"orchestrator RSS {baseline / 1024:.1f} -> {during / 1024:.1f} MB"
    )
