#!/usr/bin/env python3
"""supervisor's ``redis`` program: a local Redis only when one is needed.

* REDIS_URL points at this machine and nothing answers there: exec
  redis-server in the foreground (supervisor then watches redis itself, and
  SIGTERM reaches it directly).
* A Redis already answers, or REDIS_URL is remote: stay idle until SIGTERM,
  logging which Redis the system uses and when its reachability changes.

Why idle instead of exiting 0: supervisor counts an exit within ``startsecs``
as a failed start (BACKOFF, then FATAL after ``startretries``), and with
``startsecs=0`` plus ``autorestart`` it would restart the program in a loop.
Idle is one small process (standard library only, no Django) showing RUNNING.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
CHECK_INTERVAL_S = 30.0


def log(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} redis-wrapper: {message}", flush=True)


def redis_address(url: str) -> tuple[str, int, bool]:
    parsed = urlparse(url)
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or 6379
    return host, port, host in LOCAL_HOSTS


def redis_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """PING without a client library. A server that wants AUTH answers -NOAUTH: still a Redis."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            reply = conn.recv(64)
    except OSError:
        return False
    return reply.startswith((b"+PONG", b"-NOAUTH", b"-ERR"))


def exec_redis_server(binary: str, host: str, port: int, data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log(f"no Redis answers on {host}:{port}; starting {binary} in the foreground (data in {data_dir})")
    os.execv(
        binary,
        [
            binary,
            "--bind",
            host,
            "--port",
            str(port),
            "--daemonize",
            "no",
            "--dir",
            str(data_dir),
            "--appendonly",
            "no",
            "--save",
            "900 1",
            "--logfile",
            "",
        ],
    )


def idle(host: str, port: int, local: bool) -> int:
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    where = "local" if local else "remote"
    log(f"using the {where} Redis at {host}:{port}; not starting one (idle until stopped)")
    reachable = True
    while not stopping:
        # Sleep in short steps so SIGTERM ends the wait at once.
        deadline = time.monotonic() + CHECK_INTERVAL_S
        while not stopping and time.monotonic() < deadline:
            time.sleep(0.5)
        if stopping:
            break
        now_reachable = redis_answers(host, port)
        if now_reachable != reachable:
            log(f"Redis at {host}:{port} {'answers again' if now_reachable else 'stopped answering'}")
            reachable = now_reachable
    log("stopped")
    return 0


def main() -> int:
    host, port, local = redis_address(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    if local and not redis_answers(host, port):
        binary = shutil.which("redis-server")
        if binary is None:
            log(
                "no Redis answers on this machine and redis-server is not installed: "
                "install it (apt-get install redis-server) or set REDIS_URL to a running server"
            )
            return 1
        root = Path(os.environ.get("ORCHESTRATOR_VAR_DIR") or Path(__file__).resolve().parent.parent / "var")
        exec_redis_server(binary, host, port, root / "redis")
    return idle(host, port, local)


if __name__ == "__main__":
    sys.exit(main())
