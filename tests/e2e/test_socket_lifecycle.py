"""End to end: processes dying, restarting and stopping around the orchestrator."""

from __future__ import annotations

import os
import signal
import socket
import threading

import orjson
import pytest

from tests.support.net import exchange_line
from tests.support.system import System, wait_until

pytestmark = pytest.mark.e2e


def send_and_wait(system: System, frame: dict, results: list, timeout: float = 120) -> threading.Thread:
    """Send one request on its own connection in a thread; its answer lands in ``results``."""

    def run() -> None:
        data = exchange_line(system.client_socket, orjson.dumps(frame), timeout)
        results.append(orjson.loads(data) if data else None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_inflight(system: System, n: int) -> None:
    wait_until(lambda: system.status()["inflight"] >= n, 60, f"{n} request(s) in flight", interval=0.05)


def test_agent_killed_mid_request_gives_agent_disconnected_not_a_timeout(system_factory):
    system = system_factory()
    instance = system.start_agent("probe", "VICTIM")
    results: list = []
    thread = send_and_wait(
        system,
        {"id": "k1", "agent": "probe", "action": "slow", "data": {"ms": 120_000}, "timeout_ms": 300_000},
        results,
    )
    wait_inflight(system, 1)
    system.kill_agent(instance, signal.SIGKILL)
    thread.join(60)
    assert results and results[0]["id"] == "k1"
    assert results[0]["error"]["code"] == "AGENT_DISCONNECTED"
    assert system.instances("probe") == []


def test_agents_come_back_by_themselves_after_the_orchestrator_restarts(system_factory):
    system = system_factory()
    system.start_agent("probe", "STAY-1")
    system.start_agent("naming", "STAY-NAMING")
    pids = {i: p.pid for i, p in system.agents.items()}
    system.restart_orchestrator()  # waits until both instances are READY again
    assert {i: p.pid for i, p in system.agents.items()} == pids
    assert all(p.poll() is None for p in system.agents.values())
    assert system.request("probe", "echo", {"back": 1})["data"] == {"back": 1}
    frame = system.request("naming", "allocate_namespace", {"project": "restart", "environment": "test"})
    assert frame["status"] == "success", frame


def test_sigterm_drains_inflight_exits_0_and_removes_socket_files(system_factory):
    system = system_factory()
    system.start_agent("probe", "DRAIN-1")
    results: list = []
    thread = send_and_wait(system, {"id": "d1", "agent": "probe", "action": "slow", "data": {"ms": 1000}}, results)
    wait_inflight(system, 1)
    assert system.stop_orchestrator(signal.SIGTERM) == 0
    thread.join(60)
    assert results and results[0]["id"] == "d1" and results[0]["status"] == "success"
    assert list(system.socket_dir.glob("*.sock")) == []
    assert system.agents["DRAIN-1"].poll() is None  # the agent waits for the next orchestrator
    assert system.stop_agent("DRAIN-1") == 0


def test_stale_socket_file_is_removed_at_start(system_factory):
    system = system_factory(start=False)
    system.socket_dir.mkdir(mode=0o700)
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(system.client_socket))
    stale.close()  # the file stays behind, nobody listens: what a crash leaves
    system.start()
    assert system.status()["pid"] == system.orchestrator.pid


def test_group_writable_socket_directory_is_refused(system_factory):
    system = system_factory(start=False)
    system.socket_dir.mkdir()
    os.chmod(system.socket_dir, 0o777)
    proc = system.start_orchestrator(wait=False)
    assert proc.wait(120) != 0
    assert "writable by group or others" in system.log_tail("orchestrator")
    assert not system.client_socket.exists()
