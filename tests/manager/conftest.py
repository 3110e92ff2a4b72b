"""A real, private supervisord for the manager's tests (sleep programs, no Django).

The manager talks to supervisor over XML-RPC on a unix socket; these tests
run a real supervisord in a temp directory with programs shaped like the
real ones (a numbered "naming" program and a "manager" in group "agents",
plus "web" outside it) so process control is exercised end to end.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.manager.supervisor import SupervisorClient, SupervisorUnavailable

SUPERVISORD = Path(sys.executable).parent / "supervisord"

CONFIG = """
[unix_http_server]
file={dir}/supervisor.sock
chmod=0600

[supervisord]
logfile={dir}/supervisord.log
pidfile={dir}/supervisord.pid
childlogdir={dir}
nodaemon=true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[program:naming]
command=sleep 600
process_name=%(program_name)s-%(process_num)d
numprocs=2
numprocs_start=1
startsecs=0
stopwaitsecs=5
autorestart=true

[program:manager]
command=sleep 600
startsecs=0
stopwaitsecs=5
autorestart=true

[program:web]
command=sleep 600
startsecs=0
stopwaitsecs=5
autorestart=true

[program:broken]
command=false
autostart=false
startsecs=1
startretries=0
autorestart=false

[group:agents]
programs=naming,manager
"""
# Never started by the fixtures: it exists to fail when a test starts it.
BROKEN = "broken"


@dataclass
class Sandbox:
    dir: Path
    process: subprocess.Popen

    @property
    def socket(self) -> Path:
        return self.dir / "supervisor.sock"

    def client(self) -> SupervisorClient:
        return SupervisorClient(self.socket, timeout=10)

    def wait_running(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                procs = [p for p in self.client().all_processes() if p.name != BROKEN]
                if procs and all(p.state == "RUNNING" for p in procs):
                    return
            except SupervisorUnavailable:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"supervisord exited: {(self.dir / 'supervisord.log').read_text()}")
            time.sleep(0.1)
        raise TimeoutError("sandbox supervisord programs did not reach RUNNING")


@pytest.fixture(scope="session")
def supervisor_sandbox() -> Iterator[Sandbox]:
    directory = Path(tempfile.mkdtemp(prefix="orch-", dir="/tmp"))
    directory.chmod(0o700)
    (directory / "supervisord.conf").write_text(CONFIG.format(dir=directory))
    process = subprocess.Popen(
        [str(SUPERVISORD), "-n", "-c", str(directory / "supervisord.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    sandbox = Sandbox(directory, process)
    try:
        sandbox.wait_running()
        yield sandbox
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def sandbox(supervisor_sandbox: Sandbox) -> Sandbox:
    """The session's sandbox with every program running again (tests stop and restart them)."""
    client = supervisor_sandbox.client()
    for proc in client.all_processes():
        if proc.state != "RUNNING" and proc.name != BROKEN:
            client.start(proc.full_name, wait=True)
    supervisor_sandbox.wait_running()
    return supervisor_sandbox


# --- the manager agent, driven through its real handle() ---------------------------------

import asyncio  # noqa: E402
from typing import Any  # noqa: E402

from agents import protocol  # noqa: E402


class AgentDriver:
    """Calls a ManagerAgent the way a transport does: a normalized request into handle()."""

    def __init__(self, config: dict[str, Any]):
        from agents.manager.agent import ManagerAgent

        self.agent = ManagerAgent("AGT-MANAGER-TEST", config)
        asyncio.run(self.agent.setup())

    def call(self, action: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        request = protocol.normalize_request({"action": action, "data": data or {}}, default_agent="manager")
        return asyncio.run(self.agent.handle(request, transport="socket"))

    def close(self) -> None:
        asyncio.run(self.agent.teardown())


@pytest.fixture
def private_sockets(settings: Any, tmp_path: Path) -> Path:
    """Point the client library's default socket at an empty private dir (no orchestrator there),
    so a system running on this machine is never asked."""
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": tmp_path}
    return tmp_path


@pytest.fixture
def manager(tmp_path: Path, private_sockets: Path) -> Iterator[AgentDriver]:
    """A manager agent whose supervisor socket does not exist (no process control possible)."""
    driver = AgentDriver({"supervisor_socket": str(tmp_path / "absent.sock"), "stale_after_s": 30})
    yield driver
    driver.close()


@pytest.fixture
def controlling_manager(sandbox: Sandbox, private_sockets: Path) -> Iterator[AgentDriver]:
    """A manager agent wired to the sandbox supervisord."""
    driver = AgentDriver({"supervisor_socket": str(sandbox.socket), "stale_after_s": 30})
    yield driver
    driver.close()


@pytest.fixture
def agent_types(transactional_db: None) -> None:
    """The default agent types (a transactional test before this one may have flushed them)."""
    from agents.models import AgentType

    for name in ("naming", "struct", "semantic", "manager"):
        AgentType.objects.get_or_create(name=name)
