"""Start a real Daphne serving this project for a System (e2e tests and the benchmark)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from agents.protocol import DEFAULT_MAX_FRAME_BYTES, websocket_message_limit
from tests.support.net import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]


# What supervisord.conf runs: Daphne's command line on uvloop. ("daphne" gives plain Daphne, for comparisons.)
SERVE_MODULE = "orchestrator_site.serve"


class Daphne:
    def __init__(
        self, env: dict[str, str], log_path: Path, *, port: int | None = None, module: str = SERVE_MODULE
    ) -> None:
        self.module = module
        self.port = port or free_port()
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> Daphne:
        # The same WebSocket limits as supervisord.conf's web program (scripts/run_system.py computes them).
        ws_limit = str(
            websocket_message_limit(int(self.env.get("ORCHESTRATOR_MAX_FRAME_BYTES", DEFAULT_MAX_FRAME_BYTES)))
        )
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    self.module,
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "--websocket-max-message-size",
                    ws_limit,
                    "--websocket-max-frame-size",
                    ws_limit,
                    "orchestrator_site.asgi:application",
                ],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"daphne exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(self.url + "/api/schema/?format=json", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"daphne did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no daphne log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> Daphne:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
