"""The whole system under supervisord, started by the real run command with the real supervisord.conf.

One system per module (starting eight processes takes a while on two shared
cores): the project's supervisord.conf is copied into a private temp
directory (so its ``%(here)s/var/supervisor.sock`` link lands there), and
``scripts/run_system.py`` runs with an environment of its own: socket
directory, SQLite database, Redis key prefix, HTTP port, log directory.
The tests then use every interface, kill and restart agents three ways, and
finally stop supervisord and check that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agents.client import Client
from agents.manager.supervisor import SupervisorClient, SupervisorUnavailable
from tests.support.net import exchange_line, free_port
from tests.support.system import PROJECT_ROOT, migrated_template, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

START_TIMEOUT_S = 300.0  # eight Python processes starting at once on two busy cores
PROGRAMS = {
    "redis",
    "orchestrator",
    "web",
    "agents:naming-1",
    "agents:naming-2",
    "agents:struct",
    "agents:semantic",
    "agents:manager",
}
AGENT_INSTANCES = {
    "naming": {"AGT-NAMING-1", "AGT-NAMING-2"},
    "struct": {"AGT-STRUCT-1"},
    "semantic": {"AGT-SEMANTIC-1"},
    "manager": {"AGT-MANAGER-1"},
}
# Variables run_system.py computes; inherited values would point at another system.
COMPUTED = (
    "ORCHESTRATOR_ROOT",
    "ORCHESTRATOR_PYTHON",
    "ORCHESTRATOR_LOG_DIR",
    "ORCHESTRATOR_STOPWAITSECS",
    "ORCHESTRATOR_HTTP_HOST",
    "SUPERVISOR_SOCKET",
)


def pid_alive(pid: int) -> bool:
    """True for a running process; a zombie (exited, not yet reaped by init) counts as gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = re.search(r"^State:\s+(\S)", status, re.M)
    return not (state and state.group(1) in ("Z", "X"))


class Supervised:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="orch-", dir="/tmp"))
        self.config = self.root / "supervisord.conf"
        shutil.copyfile(PROJECT_ROOT / "supervisord.conf", self.config)
        self.socket_dir = self.root / "s"
        self.log_dir = self.root / "var" / "log"
        shutil.copyfile(migrated_template(), self.root / "db.sqlite3")
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.prefix = f"test:{uuid.uuid4().hex[:8]}:"
        env = {k: v for k, v in os.environ.items() if k not in COMPUTED}
        env.update(
            {
                "DATABASE_URL": f"sqlite:///{self.root / 'db.sqlite3'}",
                "ORCHESTRATOR_SOCKET_DIR": str(self.socket_dir),
                "ORCHESTRATOR_VAR_DIR": str(self.root / "var"),
                "ORCHESTRATOR_HTTP_PORT": str(self.port),
                "REDIS_KEY_PREFIX": self.prefix,
                "AGENT_HEARTBEAT_INTERVAL_S": "1",
                "AGENT_RETRY_INTERVAL_S": "1",
                "ORCHESTRATOR_MONITOR_INTERVAL_S": "3600",
                "DJANGO_SUPERUSER_USERNAME": "admin",
                "DJANGO_SUPERUSER_PASSWORD": self.password,
                "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
            }
        )
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.seen_pids: set[int] = set()
        self.token = ""
        self.api_token = ""

    # --- plumbing ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def supervisor(self) -> SupervisorClient:
        return SupervisorClient(self.socket_dir / "supervisor.sock", timeout=30)

    def processes(self) -> dict[str, Any]:
        found = {p.full_name: p for p in self.supervisor().all_processes()}
        self.seen_pids.update(p.pid for p in found.values() if p.pid)
        return found

    def client(self) -> Client:
        return Client(self.socket_dir / "orchestrator.sock")

    def request(
        self, agent: str, action: str, data: dict[str, Any] | None = None, timeout_ms: int = 60_000
    ) -> dict[str, Any]:
        with self.client() as client:
            return client.request(agent, action, data, timeout_ms=timeout_ms)

    def status(self) -> dict[str, Any]:
        frame = self.request("orchestrator", "status", timeout_ms=5000)
        assert frame["status"] == "success", frame
        return frame["data"]

    def ready_instances(self) -> dict[str, dict[str, int]]:
        """type -> {instance: pid} of READY instances, per the orchestrator."""
        return {
            t: {i["instance"]: i["pid"] for i in info["instances"] if i["state"] == "READY"}
            for t, info in self.status()["types"].items()
        }

    def manage(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, str(PROJECT_ROOT / "manage.py"), *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        """supervisorctl exactly as an operator types it, from the directory holding supervisord.conf."""
        return subprocess.run(
            [str(Path(sys.executable).parent / "supervisorctl"), "-c", "supervisord.conf", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=300,
        )

    def logs(self) -> str:
        parts = []
        out = self.root / "run.out"
        if out.exists():
            parts.append("--- run.out ---\n" + "\n".join(out.read_text(errors="replace").splitlines()[-30:]))
        for path in sorted(self.log_dir.glob("*.log")):
            parts.append(f"--- {path.name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:]))
        return "\n".join(parts)

    # --- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        with open(self.root / "run.out", "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(PROJECT_ROOT / "scripts" / "run_system.py"), "--config", str(self.config)],
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.seen_pids.add(self.process.pid)
        self.wait_all_running()
        self.wait_agents_attached()

    def wait_all_running(self) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"run_system.py exited with {self.process.returncode}\n{self.logs()}")
            try:
                procs = self.processes()
            except SupervisorUnavailable:
                return None
            return procs if set(procs) == PROGRAMS and all(p.state == "RUNNING" for p in procs.values()) else None

        return wait_until(check, START_TIMEOUT_S, "every supervisor program RUNNING", interval=0.5, on_fail=self.logs)

    def wait_agents_attached(self, expect_pids: dict[str, int] | None = None) -> None:
        """Every agent instance READY at the orchestrator, with the pid supervisor reports."""

        def check() -> bool:
            ready = self.ready_instances()
            procs = self.processes()
            for agent_type, wanted in AGENT_INSTANCES.items():
                if not wanted <= set(ready.get(agent_type, {})):
                    return False
            pids = {f"agents:{n}": ready["naming"][f"AGT-NAMING-{n[-1]}"] for n in ("naming-1", "naming-2")}
            pids.update({f"agents:{t}": ready[t][f"AGT-{t.upper()}-1"] for t in ("struct", "semantic", "manager")})
            return all(procs[name].pid == pid for name, pid in pids.items())

        wait_until(check, START_TIMEOUT_S, "every agent attached to the orchestrator", interval=0.5, on_fail=self.logs)

    def stop(self) -> None:
        """Always: SIGTERM supervisord (it stops its programs), then SIGKILL whatever is left."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(180)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)
        for pid in self.seen_pids:
            if pid_alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def system() -> Iterator[Supervised]:
    supervised = Supervised()
    try:
        supervised.start()
        supervised.token = supervised.manage("manager_token").strip()
        match = re.search(r"([0-9a-f]{40})", supervised.manage("drf_create_token", "admin"))
        assert match, "drf_create_token printed no key"
        supervised.api_token = match.group(1)
        yield supervised
    finally:
        supervised.stop()


# --- tests, in the order they run ----------------------------------------------------------------


def test_every_program_runs_and_supervisorctl_needs_no_flags(system: Supervised):
    result = system.ctl("status")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines() if line.strip()}
    assert lines == {name: "RUNNING" for name in PROGRAMS}
    # Private: the socket directory 0700, supervisord's control socket 0600.
    assert stat.S_IMODE(system.socket_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((system.socket_dir / "supervisor.sock").stat().st_mode) == 0o600
    assert (system.log_dir / "naming-1.log").exists() and (system.log_dir / "orchestrator.log").exists()


def test_the_run_command_printed_where_to_log_in(system: Supervised):
    out = (system.root / "run.out").read_text()
    assert f"{system.url}/admin/" in out
    assert "admin" in out and "supervisorctl" in out
    assert system.password not in out  # a password from the environment is never echoed
    web = system.processes()["web"].pid
    assert system.password.encode() not in Path(f"/proc/{web}/environ").read_bytes()  # nor inherited


def test_a_request_on_the_agent_type_socket_like_nc(system: Supervised):
    buf = exchange_line(
        system.socket_dir / "orchestrator-naming.sock",
        b'{"action":"allocate_namespace","environment":"test","project":"centerfire"}',
        60,
    )
    assert buf.endswith(b"\n"), "connection closed before an answer"
    frame = json.loads(buf)
    assert frame["status"] == "success", frame
    assert frame["data"]["namespace"].startswith("centerfire.test.ns")
    assert frame["data"]["cid"].startswith("cid:centerfire:test:namespace:")


def test_a_request_on_the_client_socket_reaches_both_naming_instances(system: Supervised):
    with system.client() as client:
        frames = [client.request("naming", "describe", {}, timeout_ms=60_000) for _ in range(12)]
    assert all(f["status"] == "success" and f["transport"] == "socket" for f in frames), frames
    # Least-outstanding with rotating ties: sequential requests spread over both instances.
    assert {f["data"]["instance"] for f in frames} == AGENT_INSTANCES["naming"]


def test_http_health_and_an_agent_request_over_http(system: Supervised):
    health = httpx.get(f"{system.url}/health", timeout=60)
    assert health.status_code == 200, health.text
    assert health.json()["status"]
    response = httpx.post(
        f"{system.url}/api/request",
        timeout=60,
        headers={"Authorization": f"Token {system.api_token}"},
        json={"agent": "naming", "action": "echo", "data": {"over": "http"}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"over": "http"}


def test_an_agent_request_over_the_websocket(system: Supervised):
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{system.port}/ws/", open_timeout=60) as ws:
        ws.send(json.dumps({"type": "auth", "token": system.api_token}))
        assert json.loads(ws.recv(timeout=60))["type"] == "authenticated"
        ws.send(json.dumps({"id": "ws-1", "agent": "struct", "action": "echo", "data": {"over": "ws"}}))
        frame = json.loads(ws.recv(timeout=60))
    assert frame["id"] == "ws-1" and frame["status"] == "success", frame
    assert frame["data"] == {"over": "ws"}


def test_an_agent_request_over_redis(system: Supervised):
    from agents import protocol
    from orchestrator_site.orchestrator.redis_fallback import RedisFallback

    async def submit() -> dict[str, Any]:
        fallback = RedisFallback(
            redis_url=system.env.get("REDIS_URL", "redis://127.0.0.1:6379/0"), prefix=system.prefix
        )
        await fallback.start()
        try:
            request = protocol.normalize_request(
                {"id": "redis-1", "agent": "semantic", "action": "echo", "data": {"over": "redis"}}
            )
            return await fallback.submit(request, 60.0)
        finally:
            await fallback.close()

    frame = asyncio.run(submit())
    assert frame["status"] == "success", frame
    assert frame["data"] == {"over": "redis"}


def test_the_manager_lists_every_instance_with_its_process_and_heartbeat(system: Supervised):
    def listing() -> dict[str, Any] | None:
        frame = system.request("manager", "list_agents")
        assert frame["status"] == "success", frame
        instances = {i["instance"]: i for t in frame["data"]["types"] for i in t["instances"]}
        beating = all(instances.get(i, {}).get("last_heartbeat") for ids in AGENT_INSTANCES.values() for i in ids)
        return frame["data"] if beating else None

    data = wait_until(listing, 120, "a heartbeat from every agent", interval=0.5)
    procs = system.processes()
    for agent_type, ids in AGENT_INSTANCES.items():
        kind = next(t for t in data["types"] if t["name"] == agent_type)
        by_id = {i["instance"]: i for i in kind["instances"]}
        for instance in ids:
            entry = by_id[instance]
            assert entry["connected"] is True and entry["state"] == "RUNNING" and entry["stale"] is False
            assert entry["pid"] == procs[entry["process"]["name"]].pid
            assert entry["uptime_s"] is not None
    assert {p["name"] for p in data["processes"]} == {"redis", "orchestrator", "web"}
    assert data["collisions"] == []


def test_sigkill_of_an_agent_supervisor_restarts_it_and_the_orchestrator_reattaches(system: Supervised):
    old = system.processes()["agents:naming-1"].pid
    os.kill(old, signal.SIGKILL)

    def back() -> bool:
        proc = system.processes()["agents:naming-1"]
        return proc.state == "RUNNING" and proc.pid != old

    wait_until(back, START_TIMEOUT_S, "supervisor to restart naming-1", interval=0.2, on_fail=system.logs)
    system.wait_agents_attached()
    new = system.processes()["agents:naming-1"].pid
    assert system.ready_instances()["naming"]["AGT-NAMING-1"] == new != old
    assert system.request("naming", "echo", {"after": "kill"})["status"] == "success"


def test_restart_through_the_manager_agent_needs_its_token(system: Supervised):
    old = system.processes()["agents:naming-2"].pid
    refused = system.request("manager", "restart_agent", {"name": "naming-2"})
    assert refused["status"] == "error" and refused["error"]["code"] == "UNAUTHORIZED"
    assert system.processes()["agents:naming-2"].pid == old
    frame = system.request("manager", "restart_agent", {"name": "naming-2", "token": system.token}, timeout_ms=240_000)
    assert frame["status"] == "success", frame
    [result] = frame["data"]["processes"]
    assert result["name"] == "agents:naming-2" and result["result"] == "restarted"
    assert result["pid"] != old and result["state"] == "RUNNING"
    system.wait_agents_attached()
    assert system.ready_instances()["naming"]["AGT-NAMING-2"] == result["pid"]


def test_restart_through_supervisorctl(system: Supervised):
    old = system.processes()["agents:struct"].pid
    result = system.ctl("restart", "agents:struct")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "agents:struct: started" in result.stdout
    new = system.processes()["agents:struct"].pid
    assert new != old
    system.wait_agents_attached()
    assert system.ready_instances()["struct"]["AGT-STRUCT-1"] == new


def test_the_admin_live_page_shows_supervisor_state(system: Supervised):
    with httpx.Client(base_url=system.url, timeout=60, follow_redirects=True) as http:
        login = http.get("/admin/login/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)
        assert csrf, login.text[:500]
        http.post(
            "/admin/login/",
            data={
                "username": "admin",
                "password": system.password,
                "csrfmiddlewaretoken": csrf.group(1),
                "next": "/admin/",
            },
        )
        page = http.get("/admin/agents/agentinstance/live/")
    assert page.status_code == 200, page.text[:500]
    assert "agents:naming-1" in page.text and "RUNNING" in page.text
    assert "unavailable" not in page.text  # the web process reached both supervisor and the orchestrator


def test_stopping_supervisord_stops_everything_and_removes_every_socket(system: Supervised):
    system.processes()
    pids = set(system.seen_pids)
    assert system.process is not None
    system.process.send_signal(signal.SIGTERM)
    assert system.process.wait(180) == 0
    leftover = {pid for pid in pids if pid_alive(pid)}
    assert leftover == set(), f"still running: {leftover}"
    sockets = [p.name for p in system.socket_dir.iterdir() if stat.S_ISSOCK(p.lstat().st_mode)]
    assert sockets == []
