#!/usr/bin/env python3
"""Time from the run command to the first answer, and each process's memory at rest and under load.

    .venv/bin/python bench/measure_startup_memory.py                 # this checkout, packages installed
    .venv/bin/python bench/measure_startup_memory.py --checkout DIR  # python3 DIR/dev.py run (e.g. a fresh
                                                                      # clone without .venv: "from nothing")

What it does: starts the whole system under supervisord with the real run
command (scripts/run_system.py, or dev.py run for --checkout) in a private
environment (temp socket dir, a fresh empty SQLite database so migrations
are part of the time, its own HTTP port and Redis key prefix), and reports

* seconds from the command to: supervisord's control socket answering, every
  program RUNNING, the first successful answer from a naming agent through
  orchestrator.sock, every agent attached, /health answering 200;
* RSS and PSS (proportional share: shared library pages divided among the
  processes sharing them, the fairer "cost" of one more process) of every
  supervised process, at rest and at the peak of a load phase: pipelined
  ``echo`` requests to naming over orchestrator.sock with --window in flight
  (the socket benchmark's pipelined case), for --load-seconds;
* the time supervisord takes to stop everything on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.manager.supervisor import SupervisorClient, SupervisorUnavailable  # noqa: E402
from tests.support.net import exchange_line, free_port  # noqa: E402

AGENTS = {"AGT-NAMING-1", "AGT-NAMING-2", "AGT-STRUCT-1", "AGT-SEMANTIC-1", "AGT-MANAGER-1"}


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB from /proc; (0, 0) for a process that is gone."""
    try:
        rss = next(
            int(line.split()[1])
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        pss = next(
            (
                int(line.split()[1])
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                if line.startswith("Pss:")
            ),
            0,
        )
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return 0, 0
    return rss, pss


def request_line(sock_path: Path, frame: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    buf = exchange_line(sock_path, json.dumps(frame).encode(), timeout)
    if not buf.endswith(b"\n"):
        raise ConnectionError("closed")
    return json.loads(buf)


class Run:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="orch-bench-", dir="/tmp"))
        self.socket_dir = self.tmp / "s"
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ORCHESTRATOR_", "DJANGO_SUPERUSER"))}
        env.update(
            {
                "DATABASE_URL": f"sqlite:///{self.tmp / 'db.sqlite3'}",
                "ORCHESTRATOR_SOCKET_DIR": str(self.socket_dir),
                "ORCHESTRATOR_VAR_DIR": str(self.tmp / "var"),
                "ORCHESTRATOR_HTTP_PORT": str(self.port),
                "REDIS_KEY_PREFIX": f"bench:{uuid.uuid4().hex[:8]}:",
                "DJANGO_SUPERUSER_USERNAME": "admin",
                "DJANGO_SUPERUSER_PASSWORD": uuid.uuid4().hex,
            }
        )
        if args.checkout:
            checkout = Path(args.checkout).resolve()
            self.command = ["python3", str(checkout / "dev.py"), "run"]
            self.cwd = checkout
        else:
            shutil.copyfile(ROOT / "supervisord.conf", self.tmp / "supervisord.conf")
            self.command = [
                sys.executable,
                str(ROOT / "scripts" / "run_system.py"),
                "--config",
                str(self.tmp / "supervisord.conf"),
            ]
            self.cwd = self.tmp
        self.env = env
        self.marks: dict[str, float] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    def supervisor(self) -> SupervisorClient:
        return SupervisorClient(self.socket_dir / "supervisor.sock", timeout=10)

    def mark(self, name: str) -> None:
        if name not in self.marks:
            self.marks[name] = time.monotonic() - self.t0
            print(f"  {self.marks[name]:7.2f} s  {name}", flush=True)

    def start(self) -> None:
        print(f"$ {' '.join(self.command)}", flush=True)
        self.log = open(self.tmp / "run.out", "wb")  # noqa: SIM115 (the child's stdout, closed by stop())
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = self.t0 + self.args.timeout
        client_sock = self.socket_dir / "orchestrator.sock"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"run command exited: {(self.tmp / 'run.out').read_text()[-3000:]}")
            self._poll_marks(client_sock)
            if {"all programs RUNNING", "first answer (naming echo)", "every agent attached", "/health 200"} <= set(
                self.marks
            ):
                return
            time.sleep(0.05)
        raise SystemExit(f"not ready after {self.args.timeout} s: {self.marks}")

    def _poll_marks(self, client_sock: Path) -> None:
        try:
            procs = self.supervisor().all_processes()
            self.mark("supervisord answering")
            if procs and all(p.state == "RUNNING" for p in procs):
                self.mark("all programs RUNNING")
        except SupervisorUnavailable:
            return
        if "first answer (naming echo)" not in self.marks:
            try:
                if request_line(client_sock, {"agent": "naming", "action": "echo", "data": {}})["status"] == "success":
                    self.mark("first answer (naming echo)")
            except OSError:
                pass
        elif "every agent attached" not in self.marks:
            status = request_line(client_sock, {"agent": "orchestrator", "action": "status"})["data"]
            ready = {i["instance"] for t in status["types"].values() for i in t["instances"] if i["state"] == "READY"}
            if ready >= AGENTS:
                self.mark("every agent attached")
        if "/health 200" not in self.marks:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as conn:
                    conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if b" 200 " in conn.recv(64).split(b"\r\n", 1)[0]:
                        self.mark("/health 200")
            except OSError:
                pass

    def processes(self) -> dict[str, int]:
        procs = {p.full_name: p.pid for p in self.supervisor().all_processes() if p.pid}
        assert self.proc is not None
        procs["supervisord"] = self.proc.pid
        return procs

    async def load(self, seconds: float, window: int, peaks: dict[str, tuple[int, int]]) -> float:
        """Pipelined echo to naming for ``seconds``; samples memory meanwhile; returns requests/s."""
        loop = asyncio.get_running_loop()
        done = 0
        stop_at = time.monotonic() + seconds
        finished = loop.create_future()
        payload = b'{"agent":"naming","action":"echo","data":{"n":1}}\n'

        class Proto(asyncio.Protocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def data_received(self, data: bytes) -> None:
                nonlocal done
                n = data.count(b"\n")
                done += n
                if time.monotonic() < stop_at:
                    self.transport.write(payload * n)  # refill the window with one write
                elif not finished.done():
                    finished.set_result(None)

        transport, proto = await loop.create_unix_connection(Proto, str(self.socket_dir / "orchestrator.sock"))
        pids = self.processes()
        t0 = time.monotonic()
        proto.transport.write(payload * window)
        while not finished.done():
            for name, pid in pids.items():
                rss, pss = memory_kib(pid)
                old = peaks.get(name, (0, 0))
                peaks[name] = (max(old[0], rss), max(old[1], pss))
            await asyncio.wait([finished], timeout=0.25)
        elapsed = time.monotonic() - t0
        transport.close()
        return done / elapsed

    def stop(self) -> float:
        assert self.proc is not None
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(180)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        return time.monotonic() - t0


def table(rest: dict[str, tuple[int, int]], peak: dict[str, tuple[int, int]]) -> str:
    lines = [
        "| process | RSS at rest (MiB) | PSS at rest (MiB) | RSS peak under load | PSS peak under load |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(rest):
        r, p = rest[name]
        lr, lp = peak.get(name, (0, 0))
        lines.append(f"| {name} | {r / 1024:.1f} | {p / 1024:.1f} | {lr / 1024:.1f} | {lp / 1024:.1f} |")
    tr = sum(v[0] for v in rest.values()) / 1024
    tp = sum(v[1] for v in rest.values()) / 1024
    lines.append(
        f"| total | {tr:.1f} | {tp:.1f} | {sum(v[0] for v in peak.values()) / 1024:.1f} "
        f"| {sum(v[1] for v in peak.values()) / 1024:.1f} |"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkout", help="run `python3 <checkout>/dev.py run` instead of this checkout's script")
    parser.add_argument("--load-seconds", type=float, default=10.0)
    parser.add_argument("--window", type=int, default=1000, help="requests in flight during the load phase")
    parser.add_argument("--rest-seconds", type=float, default=5.0, help="settle time before the at-rest sample")
    parser.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    run = Run(args)
    try:
        run.start()
        time.sleep(args.rest_seconds)
        rest = {name: memory_kib(pid) for name, pid in run.processes().items()}
        peaks: dict[str, tuple[int, int]] = {}
        rps = asyncio.run(run.load(args.load_seconds, args.window, peaks))
        stop_s = run.stop()
    finally:
        if run.proc is not None and run.proc.poll() is None:
            run.stop()
        shutil.rmtree(run.tmp, ignore_errors=True)
    print()
    print(table(rest, peaks))
    print(f"\nload: pipelined echo to naming, window {args.window}, {args.load_seconds:.0f} s: {rps:,.0f} req/s")
    print(f"stop: SIGTERM to supervisord -> everything stopped in {stop_s:.1f} s")
    if args.json:
        print(
            json.dumps(
                {"marks_s": run.marks, "rest_kib": rest, "peak_kib": peaks, "load_rps": rps, "stop_s": stop_s}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
