"""A whole orchestrator system in subprocesses, for end-to-end tests.

    system = System()
    system.start()                                   # orchestrator, ready to serve
    system.start_agent("probe")                      # an agent, waits until it is READY
    with system.client() as client:
        client.request("probe", "echo", {"x": 1})
    system.stop()                                    # kills everything, always

Each System has its own temp directory (< 108-byte socket paths), its own
SQLite database (a copy of one migrated template per test session, so
``migrate`` runs once), its own Redis key prefix, and logs every process to
``<dir>/<name>.log`` (``system.log_tail(name)`` shows them in failures).
Agent types ``probe`` and ``probe2`` exist in the template and run
``tests.support.agents.ProbeAgent``; the four real types use agents.registry.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents.client import Client
from orchestrator_common.paths import socket_path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MANAGE = PROJECT_ROOT / "manage.py"
PYTHON = sys.executable

# Extra agent types created in the template database, with the class that serves them.
TEST_AGENT_CLASSES: dict[str, str] = {
    "probe": "tests.support.agents.ProbeAgent",
    "probe2": "tests.support.agents.ProbeAgent",
}
READY_TIMEOUT_S = 90.0  # generous: other test runs share the two cores

_template_lock = threading.Lock()
_template: Path | None = None


def wait_until(
    predicate: Callable[[], Any],
    timeout: float,
    what: str,
    *,
    interval: float = 0.05,
    on_fail: Callable[[], str] | None = None,
) -> Any:
    """Poll ``predicate`` until it returns something truthy; AssertionError (with context) after ``timeout``."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as exc:  # not ready yet (socket missing, connection refused, ...)
            last_exc = exc
            value = None
        if value:
            return value
        time.sleep(interval)
    detail = f" (last error: {last_exc!r})" if last_exc else ""
    extra = ("\n" + on_fail()) if on_fail else ""
    raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}{detail}{extra}")


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("DATABASE_URL", None)
    env.pop("ORCHESTRATOR_ASGI", None)  # set in this process once a test imported asgi.py; not for agents
    return env


def create_test_agent_types(env: dict[str, str]) -> None:
    """Add TEST_AGENT_CLASSES' types to the database of ``env`` (already migrated)."""
    # Through the ORM, so new AgentType columns get their defaults.
    code = (
        "from agents.models import AgentType\n"
        f"for name in {sorted(TEST_AGENT_CLASSES)!r}:\n"
        "    AgentType.objects.get_or_create(name=name, defaults={'description': 'test agent'})\n"
    )
    proc = subprocess.run(
        [PYTHON, str(MANAGE), "shell", "-c", code],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"creating the test agent types failed:\n{proc.stdout}\n{proc.stderr}")


def migrated_template() -> Path:
    """A migrated SQLite database with the test agent types, made once per process."""
    global _template
    with _template_lock:
        if _template is not None and _template.exists():
            return _template
        root = Path(tempfile.mkdtemp(prefix="orch-db-", dir="/tmp"))
        atexit.register(shutil.rmtree, root, True)
        db = root / "template.sqlite3"
        env = _base_env()
        env["DATABASE_URL"] = f"sqlite:///{db}"
        proc = subprocess.run(
            [PYTHON, str(MANAGE), "migrate", "--noinput", "-v", "0"],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"migrate failed:\n{proc.stdout}\n{proc.stderr}")
        create_test_agent_types(env)
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # one self-contained file to copy
        finally:
            conn.close()
        _template = db
        return db


class System:
    def __init__(
        self,
        *,
        orchestrator_args: tuple[str, ...] = ("--no-redis", "--no-monitor"),
        env: dict[str, str] | None = None,
        retry_interval_s: float = 1.0,
    ) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="orch-", dir="/tmp"))
        self.socket_dir = self.root / "s"
        self.db_path = self.root / "db.sqlite3"
        shutil.copyfile(migrated_template(), self.db_path)
        self.redis_prefix = f"test:{uuid.uuid4().hex[:8]}:"
        self.env = _base_env()
        self.env.update(
            {
                "DATABASE_URL": f"sqlite:///{self.db_path}",
                "ORCHESTRATOR_SOCKET_DIR": str(self.socket_dir),
                "REDIS_KEY_PREFIX": self.redis_prefix,
                "AGENT_RETRY_INTERVAL_S": str(retry_interval_s),
                "AGENT_HEARTBEAT_INTERVAL_S": "0",
            }
        )
        if env:
            self.env.update(env)
        self.orchestrator_args = tuple(orchestrator_args)
        self.orchestrator: subprocess.Popen[bytes] | None = None
        self.agents: dict[str, subprocess.Popen[bytes]] = {}
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[Any] = []
        self._counter = 0

    # --- paths ---------------------------------------------------------------------------------
    @property
    def client_socket(self) -> Path:
        return socket_path("client", self.socket_dir)

    def type_socket(self, agent_type: str) -> Path:
        return socket_path("agent", self.socket_dir, agent_type)

    # --- processes -----------------------------------------------------------------------------------
    def manage(self, *args: str, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a short manage.py command with this system's environment."""
        return subprocess.run(
            [PYTHON, str(MANAGE), *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
        )

    def spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 (kept in _logs, closed by stop())
        self._logs.append(log)
        proc = subprocess.Popen(
            [PYTHON, str(MANAGE), *args],
            cwd=PROJECT_ROOT,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._procs.append(proc)
        return proc

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.root / f"{name}.log"
        if not path.exists():
            return f"(no log {name})"
        text = path.read_text(errors="replace").splitlines()
        return f"--- {name}.log ---\n" + "\n".join(text[-lines:])

    def all_logs(self) -> str:
        return "\n".join(self.log_tail(p.stem) for p in sorted(self.root.glob("*.log")))

    def start(self, timeout: float = READY_TIMEOUT_S) -> System:
        self.start_orchestrator(timeout=timeout)
        return self

    def start_orchestrator(
        self, *, wait: bool = True, timeout: float = READY_TIMEOUT_S, args: tuple[str, ...] | None = None
    ) -> subprocess.Popen[bytes]:
        self.orchestrator = self.spawn("orchestrator", "run_orchestrator", *(args or self.orchestrator_args))
        if wait:
            self.wait_orchestrator_ready(timeout)
        return self.orchestrator

    def wait_orchestrator_ready(self, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        proc = self.orchestrator

        def ready() -> dict[str, Any] | None:
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"orchestrator exited with {proc.returncode}\n{self.log_tail('orchestrator')}")
            status = self.status(timeout_ms=2000)
            return status if status.get("pid") == (proc.pid if proc else status.get("pid")) else None

        try:
            return wait_until(
                ready, timeout, "the orchestrator to serve", interval=0.1, on_fail=lambda: self.log_tail("orchestrator")
            )
        except AssertionError:
            raise

    def status(self, timeout_ms: int = 5000) -> dict[str, Any]:
        with Client(self.client_socket) as client:
            frame = client.request("orchestrator", "status", timeout_ms=timeout_ms)
        assert frame["status"] == "success", frame
        return frame["data"]

    def instances(self, agent_type: str) -> list[dict[str, Any]]:
        info = self.status()["types"].get(agent_type) or {}
        return info.get("instances", [])

    def start_agent(
        self,
        agent_type: str,
        instance: str | None = None,
        transport: str = "socket",
        *,
        class_path: str | None = None,
        wait: bool = True,
        env: dict[str, str] | None = None,
        timeout: float = READY_TIMEOUT_S,
    ) -> str:
        """Start ``run_agent``; returns the instance id (waits until the orchestrator shows it READY)."""
        self._counter += 1
        instance = instance or f"T-{agent_type.upper()}-{self._counter}"
        args = ["run_agent", agent_type, "--instance", instance, "--transport", transport]
        class_path = class_path or TEST_AGENT_CLASSES.get(agent_type)
        if class_path:
            args += ["--class", class_path]
        proc = self.spawn(f"agent-{instance}", *args, env=env)
        self.agents[instance] = proc
        if wait and transport in ("socket", "both"):
            self.wait_instance(agent_type, instance, timeout=timeout)
        return instance

    def wait_instance(
        self, agent_type: str, instance: str, *, present: bool = True, timeout: float = READY_TIMEOUT_S
    ) -> None:
        proc = self.agents.get(instance)

        def check() -> bool:
            if present and proc is not None and proc.poll() is not None:
                raise AssertionError(
                    f"agent {instance} exited with {proc.returncode}\n{self.log_tail('agent-' + instance)}"
                )
            ids = {i["instance"] for i in self.instances(agent_type) if i["state"] == "READY"}
            return (instance in ids) == present

        wait_until(
            check,
            timeout,
            f"{agent_type}/{instance} to be {'READY' if present else 'gone'}",
            interval=0.1,
            on_fail=lambda: self.log_tail("agent-" + instance) + "\n" + self.log_tail("orchestrator"),
        )

    def stop_agent(self, instance: str, *, timeout: float = 60) -> int:
        proc = self.agents[instance]
        proc.send_signal(signal.SIGTERM)
        return proc.wait(timeout)

    def kill_agent(self, instance: str, sig: int = signal.SIGKILL) -> int:
        proc = self.agents[instance]
        proc.send_signal(sig)
        return proc.wait(60)

    def stop_orchestrator(self, sig: int = signal.SIGTERM, *, timeout: float = 60) -> int:
        assert self.orchestrator is not None
        self.orchestrator.send_signal(sig)
        return self.orchestrator.wait(timeout)

    def restart_orchestrator(self, *, wait_agents: bool = True, timeout: float = READY_TIMEOUT_S) -> None:
        """SIGTERM the orchestrator, start a new one; by default wait until every live agent is back."""
        self.stop_orchestrator()
        self.start_orchestrator(timeout=timeout)
        if wait_agents:
            for instance, proc in self.agents.items():
                if proc.poll() is None:
                    agent_type = self._agent_type_of(proc)
                    self.wait_instance(agent_type, instance, timeout=timeout)

    @staticmethod
    def _agent_type_of(proc: subprocess.Popen[bytes]) -> str:
        args = list(proc.args)  # type: ignore[arg-type]
        return str(args[args.index("run_agent") + 1])

    def client(self) -> Client:
        return Client(self.client_socket)

    def request(self, agent: str, action: str, data: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        with self.client() as client:
            return client.request(agent, action, data, **kwargs)

    def stop(self) -> None:
        """Stop every process this system started (SIGTERM, then SIGKILL), close logs, remove the temp dir."""
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for proc in self._procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)
        for log in self._logs:
            log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> System:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
