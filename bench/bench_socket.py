#!/usr/bin/env python3
"""Benchmark of the socket path: client -> orchestrator -> agent -> back.

    .venv/bin/python bench/bench_socket.py            # everything (about a minute)
    .venv/bin/python bench/bench_socket.py --quick    # fewer requests

It starts a private orchestrator and agent processes (tests/support/system.py:
temp socket dir, temp SQLite database), then measures from a lean client
(asyncio.Protocol on uvloop, orjson, batched writes) on orchestrator.sock:

* baseline: the same client against a bare one-process uvloop+orjson echo
  server (no orchestrator), measured in the same run: the floor on this machine now;
* one in flight: sequential round trips, p50/p99/mean in microseconds;
* pipelined: a window of N requests kept in flight; each chunk of answers is
  counted (newlines, no parsing) and refilled with the same number of new
  requests in one write; requests/s over the whole run.

for ``echo`` (a trivial agent action) and, when agents/naming/agent.py exists,
``allocate_namespace`` (a real database write per request; SQLite by default,
or PostgreSQL with --database-url).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

import orjson  # noqa: E402
import uvloop  # noqa: E402


class BenchProtocol(asyncio.Protocol):
    """Counts answers by newline; wakes the waiter once enough have arrived."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set by connection_made
        self.received = 0
        self.target = 0
        self.waiter: asyncio.Future[None] | None = None
        self.on_chunk: Callable[[int], None] | None = None  # pipelined mode: callback(n_answers)
        self.last_chunk = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        n = data.count(b"\n")
        self.last_chunk = data
        self.received += n
        if self.on_chunk is not None and n:
            self.on_chunk(n)
        if self.waiter is not None and self.received >= self.target and not self.waiter.done():
            self.waiter.set_result(None)


def frame_bytes(agent: str, action: str, data: dict, i: int) -> bytes:
    return orjson.dumps({"id": i, "agent": agent, "action": action, "data": data}) + b"\n"


async def one_in_flight(proto: BenchProtocol, make, n: int, warmup: int) -> list[float]:
    loop = asyncio.get_running_loop()
    samples: list[float] = []
    for i in range(warmup + n):
        payload = make(i)
        proto.target = proto.received + 1
        proto.waiter = loop.create_future()
        t0 = time.perf_counter()
        proto.transport.write(payload)
        await proto.waiter
        if i >= warmup:
            samples.append(time.perf_counter() - t0)
    if b'"status":"success"' not in proto.last_chunk:
        raise SystemExit(f"benchmark request failed: {proto.last_chunk[:300]!r}")
    return samples


async def pipelined(proto: BenchProtocol, make, total: int, window: int) -> float:
    loop = asyncio.get_running_loop()
    sent = 0
    start_received = proto.received

    def send(k: int) -> None:
        nonlocal sent
        k = min(k, total - sent)
        if k <= 0:
            return
        proto.transport.write(b"".join(make(sent + j) for j in range(k)))
        sent += k

    proto.target = start_received + total
    proto.waiter = loop.create_future()
    proto.on_chunk = send
    t0 = time.perf_counter()
    send(window)
    await proto.waiter
    elapsed = time.perf_counter() - t0
    proto.on_chunk = None
    return total / elapsed


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summarize(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    n = len(s)
    return {
        "p50_us": s[n // 2] * 1e6,
        "p99_us": s[min(n - 1, int(n * 0.99))] * 1e6,
        "mean_us": statistics.fmean(s) * 1e6,
    }


async def run_case(
    socket_path: Path,
    agent: str,
    action: str,
    data_of,
    *,
    n_seq: int,
    total: int,
    window: int,
    warmup: int,
    pids: dict[str, int],
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_unix_connection(BenchProtocol, str(socket_path))
    cache: dict[int, bytes] = {}

    def make(i: int) -> bytes:
        return frame_bytes(agent, action, data_of(i), i)

    lat = summarize(await one_in_flight(proto, make, n_seq, warmup))
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    rps = await pipelined(proto, make, total, window)
    cpu = {f"cpu_us_{name}": (cpu_seconds(pid) - before[name]) / total * 1e6 for name, pid in pids.items()}
    if b'"status":"success"' not in proto.last_chunk:
        raise SystemExit(f"benchmark request failed: {proto.last_chunk[:300]!r}")
    proto.transport.close()
    del cache
    return {**lat, "req_per_s": rps, **cpu}


BASELINE_SERVER = r"""
import asyncio, sys, orjson, uvloop
class Echo(asyncio.Protocol):
    def connection_made(self, t):
        self.t = t; self.buf = b""
    def data_received(self, data):
        *lines, self.buf = (self.buf + data).split(b"\n")
        out = []
        for line in lines:
            f = orjson.loads(line)
            out.append(orjson.dumps({"id": f["id"], "status": "success", "data": f["data"]}) + b"\n")
        self.t.write(b"".join(out))
async def main():
    server = await asyncio.get_running_loop().create_unix_server(Echo, sys.argv[1])
    print("ready", flush=True)
    await asyncio.Event().wait()
uvloop.run(main())
"""


def run_baseline(tmp: Path, n_seq: int, total: int, window: int) -> dict[str, float]:
    """The floor: the same client against a bare uvloop+orjson echo process (no orchestrator)."""
    import subprocess

    path = tmp / "baseline.sock"
    proc = subprocess.Popen([sys.executable, "-c", BASELINE_SERVER, str(path)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        data = {"text": "hello", "n": 1}
        return asyncio.run(
            run_case(
                path,
                "x",
                "echo",
                lambda i: data,
                n_seq=n_seq,
                total=total,
                window=window,
                warmup=500,
                pids={"orchestrator": proc.pid, "agent": proc.pid},
            )
        )
    finally:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Fewer requests (a smoke run).")
    parser.add_argument("--window", type=int, default=1000, help="Requests kept in flight when pipelined.")
    parser.add_argument("--agents", type=int, default=1, help="Agent instances serving echo.")
    parser.add_argument("--database-url", help="Database for the naming case (default: a temp SQLite file).")
    args = parser.parse_args()

    from tests.support.system import System, create_test_agent_types

    env = {"LOG_LEVEL": "WARNING"}
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    system = System(env=env)
    results: list[tuple[str, dict[str, float]]] = []
    try:
        if args.database_url:
            system.manage("migrate", "--noinput", "-v", "0")
            create_test_agent_types(system.env)  # the echo case's "probe" type
        system.start()
        first = system.start_agent("probe")
        for _ in range(args.agents - 1):
            system.start_agent("probe")
        n_seq, total = (2000, 50_000) if args.quick else (10_000, 300_000)
        uvloop.install()
        results.append(("baseline (no orch.)", run_baseline(system.root, n_seq, total, args.window)))
        echo_data = {"text": "hello", "n": 1}
        assert system.orchestrator is not None
        pids = {"orchestrator": system.orchestrator.pid, "agent": system.agents[first].pid}
        results.append(
            (
                "echo",
                asyncio.run(
                    run_case(
                        system.client_socket,
                        "probe",
                        "echo",
                        lambda i: echo_data,
                        n_seq=n_seq,
                        total=total,
                        window=args.window,
                        warmup=500,
                        pids=pids,
                    )
                ),
            )
        )
        if (ROOT / "agents" / "naming" / "agent.py").exists():
            naming = system.start_agent("naming", "BENCH-NAMING-1")
            pids = {"orchestrator": system.orchestrator.pid, "agent": system.agents[naming].pid}
            project = f"bench{int(time.time())}"
            n_alloc = 300 if args.quick else 2000
            results.append(
                (
                    "allocate_namespace",
                    asyncio.run(
                        run_case(
                            system.client_socket,
                            "naming",
                            "allocate_namespace",
                            lambda i: {"project": project, "environment": "test"},
                            n_seq=n_alloc,
                            total=n_alloc * 2,
                            window=min(args.window, 64),
                            warmup=20,
                            pids=pids,
                        )
                    ),
                )
            )
        status = system.status()
    finally:
        system.stop()
    print(
        f"\nsocket path through the orchestrator ({os.cpu_count()} CPUs, window {args.window}, "
        f"{args.agents} echo agent(s))"
    )
    print(
        f"{'action':<20} {'p50 us':>9} {'p99 us':>9} {'mean us':>9} {'pipelined req/s':>16} "
        f"{'orch CPU us/req':>16} {'agent CPU us/req':>17}"
    )
    for name, r in results:
        print(
            f"{name:<20} {r['p50_us']:>9.0f} {r['p99_us']:>9.0f} {r['mean_us']:>9.0f} {r['req_per_s']:>16,.0f} "
            f"{r['cpu_us_orchestrator']:>16.1f} {r['cpu_us_agent']:>17.1f}"
        )
    print(f"orchestrator's own view (recent window): {status['latency_ms']}")
    print("baseline: the same client against a bare uvloop+orjson echo process (its CPU shown in both columns)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
