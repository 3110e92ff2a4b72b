"""supervisor's redis program: a real redis-server only when none answers, otherwise idle."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.net import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "redis_supervised.py"


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(env_url: str, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        env={"REDIS_URL": env_url, "PATH": "/usr/bin:/bin", "ORCHESTRATOR_VAR_DIR": str(tmp_path)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(shutil.which("redis-server", path="/usr/bin:/bin") is None, reason="redis-server not installed")
def test_starts_redis_in_the_foreground_when_the_local_one_is_silent(tmp_path):
    port = free_port()
    proc = start(f"redis://127.0.0.1:{port}/0", tmp_path)
    try:
        assert wait_for(lambda: answers(port)), "redis-server did not come up"
        assert (tmp_path / "redis").is_dir()
        proc.send_signal(signal.SIGTERM)  # reaches redis-server itself (exec, same pid)
        assert proc.wait(30) == 0
        assert not answers(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stays_idle_when_the_redis_is_remote_and_stops_cleanly(tmp_path):
    proc = start("redis://redis.invalid:6379/0", tmp_path)
    try:
        time.sleep(1.5)  # longer than supervisor's startsecs for this program
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        output = proc.stdout.read() if proc.stdout else ""
        assert "using the remote Redis at redis.invalid:6379" in output and "stopped" in output
        assert not (tmp_path / "redis").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
