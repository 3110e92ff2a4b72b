#!/usr/bin/env python3
"""Load held: many connections, many WebSockets, and a soak with agent restarts (loopback only).

    .venv/bin/python bench/bench_load.py connections [--clients 10000] [--requests 5]
    .venv/bin/python bench/bench_load.py websockets  [--clients 1000] [--requests 5]
    .venv/bin/python bench/bench_load.py soak --duration 600 [--restart-every 60]
    .venv/bin/python bench/bench_load.py all          # connections + websockets + a 60 s soak

Every run starts its own private system (tests/support/system.py: temp socket
dir, temp SQLite database, unique Redis prefix; Daphne on a free loopback
port for the WebSocket and soak parts) and stops it at the end, also on
Ctrl-C. Numbers are printed as Markdown rows; bench/hardening.md keeps the
ones measured on the 2-core machine.

* connections: N client connections to orchestrator.sock, all open at once,
  each sending ``--requests`` echo requests; every answer is checked. The
  orchestrator's RSS is read from /proc/<pid>/status before connecting,
  with all N connections idle, and after the traffic: (idle - before) / N is
  the memory one idle connection costs. RLIMIT_NOFILE is raised to the hard
  limit first (the orchestrator inherits it); N is capped below that limit.
* websockets: N WebSocket clients on Daphne's /ws/, all connected at once,
  each sending ``--requests`` request frames; every answer is checked.
* soak: mixed traffic (socket echo, naming allocations, HTTP /api/request,
  WebSocket) for --duration seconds, SIGTERM + restart of one agent every
  --restart-every seconds; error rate (by code), p50/p99 and RSS of every
  process at start and end.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

import orjson  # noqa: E402

from tests.support.memory import rss_mb  # noqa: E402
from tests.support.system import System  # noqa: E402


def raise_nofile(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (up to the hard limit); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard) if hard != resource.RLIM_INFINITY else max(soft, wanted)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- connections ------------------------------------------------------------------------------------------


class LineClient(asyncio.Protocol):
    """One client connection: newline frames in, answers matched by id."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            frame = orjson.loads(line)
            fut = self.waiters.pop(frame.get("id"), None)
            if fut is not None and not fut.done():
                fut.set_result(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        for fut in self.waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))
        if not self.closed.done():
            self.closed.set_result(None)

    async def request(
        self, rid: Any, agent: str, action: str, data: dict[str, Any], timeout: float = 60.0
    ) -> dict[str, Any]:
        fut = asyncio.get_running_loop().create_future()
        self.waiters[rid] = fut
        assert self.transport is not None
        self.transport.write(orjson.dumps({"id": rid, "agent": agent, "action": action, "data": data}) + b"\n")
        return await asyncio.wait_for(fut, timeout)


async def connect_one(path: Path) -> LineClient:
    loop = asyncio.get_running_loop()
    for attempt in range(200):
        try:
            _, proto = await loop.create_unix_connection(LineClient, str(path))
            return proto
        except BlockingIOError:  # the listen backlog is full (AF_UNIX says EAGAIN): let it accept
            await asyncio.sleep(0.01 * (1 + attempt % 10))
    raise ConnectionError(f"could not connect to {path}")


async def open_clients(path: Path, n: int, batch: int = 200) -> list[LineClient]:
    clients: list[LineClient] = []
    for start in range(0, n, batch):
        clients.extend(await asyncio.gather(*(connect_one(path) for _ in range(min(batch, n - start)))))
    return clients


async def connections_run(system: System, n: int, requests: int) -> dict[str, Any]:
    pid = system.orchestrator.pid  # type: ignore[union-attr]
    before = rss_mb(pid)
    started = time.perf_counter()
    clients = await open_clients(system.client_socket, n)
    connect_s = time.perf_counter() - started
    # One request each, so every connection is known to the orchestrator as an active client.
    first = await asyncio.gather(*(c.request(f"{i}-0", "probe", "echo", {"i": i}) for i, c in enumerate(clients)))
    assert all(f["status"] == "success" for f in first)
    await asyncio.sleep(1.0)
    idle = rss_mb(pid)
    started = time.perf_counter()
    latencies: list[float] = []

    async def talk(i: int, client: LineClient) -> int:
        ok = 0
        for k in range(1, requests):
            t0 = time.perf_counter()
            frame = await client.request(f"{i}-{k}", "probe", "echo", {"i": i, "k": k})
            latencies.append(time.perf_counter() - t0)
            ok += frame["status"] == "success" and frame["data"] == {"i": i, "k": k}
        return ok

    answered = sum(await asyncio.gather(*(talk(i, c) for i, c in enumerate(clients)))) + len(first)
    traffic_s = time.perf_counter() - started
    after = rss_mb(pid)
    for client in clients:
        client.transport.close()  # type: ignore[union-attr]
    await asyncio.sleep(1.0)
    closed = rss_mb(pid)
    return {
        "clients": n,
        "requests": n * requests,
        "answered": answered,
        "connect_s": connect_s,
        "traffic_s": traffic_s,
        "req_s": (n * (requests - 1)) / traffic_s if requests > 1 else 0.0,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "rss_before_mb": before,
        "rss_idle_mb": idle,
        "rss_after_mb": after,
        "rss_closed_mb": closed,
        "kb_per_idle_connection": (idle - before) * 1024 / n,
    }


def cmd_connections(args: argparse.Namespace) -> None:
    limit = raise_nofile(args.clients * 2 + 1024)
    n = min(args.clients, max(100, limit - 1024))
    if n < args.clients:
        print(f"RLIMIT_NOFILE soft limit {limit}: using {n} connections instead of {args.clients}")
    system = System(env={"LOG_LEVEL": "WARNING"})
    try:
        system.start()
        system.start_agent("probe", "LOAD-PROBE-1")
        result = asyncio.run(connections_run(system, n, args.requests))
    finally:
        system.stop()
    print(
        "\n| connections | requests | answered | connect s | req/s | p50 ms | p99 ms | RSS before | RSS idle "
        "| RSS after | RSS closed | KB per idle conn |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    r = result
    print(
        f"| {r['clients']:,} | {r['requests']:,} | {r['answered']:,} | {r['connect_s']:.1f} | {r['req_s']:,.0f} "
        f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['rss_before_mb']:.1f} MB | {r['rss_idle_mb']:.1f} MB "
        f"| {r['rss_after_mb']:.1f} MB | {r['rss_closed_mb']:.1f} MB | {r['kb_per_idle_connection']:.1f} |"
    )
    if r["answered"] != r["requests"]:
        raise SystemExit(f"only {r['answered']} of {r['requests']} requests were answered")


# --- websockets ---------------------------------------------------------------------------------------------


def start_web(system: System) -> tuple[Any, str]:
    from tests.web.daphne_proc import Daphne

    token = system.manage("create_api_token", "loadbench", "--create").stdout.strip()
    daphne = Daphne(system.env, system.root / "daphne.log").start()
    return daphne, token


def web_system() -> System:
    # No rate limit for the benchmark's token; one process serves every WebSocket.
    return System(env={"LOG_LEVEL": "WARNING", "API_RATE_REQUEST_USER": "100000000/min", "WS_MAX_INFLIGHT": "1024"})


async def websockets_run(port: int, token: str, n: int, requests: int, pid: int) -> dict[str, Any]:
    import websockets

    before = rss_mb(pid)
    started = time.perf_counter()
    sem = asyncio.Semaphore(200)  # connect 200 at a time (Daphne's accept backlog)

    async def connect() -> Any:
        async with sem:
            return await websockets.connect(
                f"ws://127.0.0.1:{port}/ws/?token={token}", max_queue=None, open_timeout=120, ping_interval=None
            )

    conns = await asyncio.gather(*(connect() for _ in range(n)))
    connect_s = time.perf_counter() - started
    connected = rss_mb(pid)
    latencies: list[float] = []

    async def talk(i: int, ws: Any) -> int:
        ok = 0
        for k in range(requests):
            t0 = time.perf_counter()
            await ws.send(json.dumps({"id": k, "agent": "probe", "action": "echo", "data": {"i": i}}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 120))
            latencies.append(time.perf_counter() - t0)
            ok += reply.get("status") == "success" and reply.get("id") == k
        return ok

    started = time.perf_counter()
    answered = sum(await asyncio.gather(*(talk(i, ws) for i, ws in enumerate(conns))))
    traffic_s = time.perf_counter() - started
    after = rss_mb(pid)
    await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)
    return {
        "clients": n,
        "requests": n * requests,
        "answered": answered,
        "connect_s": connect_s,
        "req_s": n * requests / traffic_s,
        "p50_ms": pct(latencies, 0.5) * 1000,
        "p99_ms": pct(latencies, 0.99) * 1000,
        "rss_before_mb": before,
        "rss_connected_mb": connected,
        "rss_after_mb": after,
    }


def cmd_websockets(args: argparse.Namespace) -> None:
    raise_nofile(args.clients * 2 + 1024)
    system = web_system()
    daphne = None
    try:
        system.start()
        system.start_agent("probe", "LOAD-PROBE-1")
        daphne, token = start_web(system)
        r = asyncio.run(websockets_run(daphne.port, token, args.clients, args.requests, daphne.proc.pid))
    finally:
        if daphne is not None:
            daphne.stop()
        system.stop()
    print(
        "\n| WebSockets | requests | answered | connect s | req/s | p50 ms | p99 ms | Daphne RSS before "
        "| connected | after |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {r['clients']:,} | {r['requests']:,} | {r['answered']:,} | {r['connect_s']:.1f} | {r['req_s']:,.0f} "
        f"| {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['rss_before_mb']:.1f} MB | {r['rss_connected_mb']:.1f} MB "
        f"| {r['rss_after_mb']:.1f} MB |"
    )
    if r["answered"] != r["requests"]:
        raise SystemExit(f"only {r['answered']} of {r['requests']} requests were answered")


# --- soak -----------------------------------------------------------------------------------------------------


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.outcomes: Counter[str] = Counter()

    def add(self, started: float, frame: dict[str, Any]) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.outcomes[
            "success" if frame.get("status") == "success" else str((frame.get("error") or {}).get("code", "?"))
        ] += 1

    def failed(self, started: float, exc: BaseException) -> None:
        self.latencies.append(time.perf_counter() - started)
        self.outcomes[type(exc).__name__] += 1


async def soak_run(
    system: System, port: int, token: str, duration: float, restart_every: float, tally: Tally, stop_at: float
) -> None:
    import httpx
    import websockets

    from agents.client import AsyncClient

    ids = itertools.count()

    async def socket_worker(kind: str) -> None:
        client = await AsyncClient.connect(socket_path=system.client_socket)
        try:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    if kind == "naming":
                        frame = await client.request(
                            "naming",
                            "allocate_namespace",
                            {"project": "soak", "environment": "test"},
                            idempotency_key=f"soak-{next(ids)}",
                            timeout_ms=10_000,
                        )
                    else:
                        frame = await client.request("probe", "echo", {"n": next(ids)}, timeout_ms=10_000)
                    tally.add(t0, frame)
                except Exception as exc:  # counted, then carry on: the soak measures errors, it does not stop on them
                    tally.failed(t0, exc)
                    await asyncio.sleep(0.05)
        finally:
            await client.close()

    async def http_worker() -> None:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=15, headers={"Authorization": f"Token {token}"}
        ) as http:
            while time.monotonic() < stop_at:
                t0 = time.perf_counter()
                try:
                    resp = await http.post("/api/request", json={"agent": "probe", "action": "echo", "data": {}})
                    tally.add(t0, resp.json())
                except Exception as exc:
                    tally.failed(t0, exc)
                    await asyncio.sleep(0.05)

    async def ws_worker() -> None:
        while time.monotonic() < stop_at:
            try:
                async with websockets.connect(f"ws://127.0.0.1:{port}/ws/?token={token}", ping_interval=None) as ws:
                    for _ in range(200):
                        if time.monotonic() >= stop_at:
                            return
                        t0 = time.perf_counter()
                        await ws.send(json.dumps({"id": 1, "agent": "probe", "action": "echo", "data": {}}))
                        tally.add(t0, json.loads(await asyncio.wait_for(ws.recv(), 15)))
            except Exception as exc:
                tally.failed(time.perf_counter(), exc)
                await asyncio.sleep(0.05)

    async def restarter() -> None:
        # SIGTERM one agent now and then and start a replacement (what supervisorctl restart does).
        n = 0
        while time.monotonic() + restart_every < stop_at:
            await asyncio.sleep(restart_every)
            live = [(inst, proc) for inst, proc in system.agents.items() if proc.poll() is None]
            inst, _ = random.choice(live)
            agent_type = "naming" if "NAMING" in inst else "probe"
            n += 1
            await asyncio.to_thread(system.stop_agent, inst)
            await asyncio.to_thread(system.start_agent, agent_type, f"SOAK-{agent_type.upper()}-R{n}")
            print(f"  restarted {inst} -> SOAK-{agent_type.upper()}-R{n}", flush=True)

    workers = [socket_worker("echo") for _ in range(4)] + [socket_worker("naming") for _ in range(2)]
    workers += [http_worker() for _ in range(2)] + [ws_worker() for _ in range(2)] + [restarter()]
    await asyncio.gather(*workers)


def process_rss(system: System, daphne: Any) -> dict[str, float]:
    procs = {"orchestrator": system.orchestrator, "daphne": daphne.proc}
    procs.update({inst: p for inst, p in system.agents.items()})
    return {name: rss_mb(p.pid) for name, p in procs.items() if p is not None and p.poll() is None}


def cmd_soak(args: argparse.Namespace) -> None:
    system = web_system()
    daphne = None
    try:
        system.start()
        system.start_agent("probe", "SOAK-PROBE-1")
        system.start_agent("probe", "SOAK-PROBE-2")
        system.start_agent("naming", "SOAK-NAMING-1")
        system.start_agent("naming", "SOAK-NAMING-2")
        daphne, token = start_web(system)
        start_rss = process_rss(system, daphne)
        tally = Tally()
        print(
            f"soak: {args.duration:.0f} s of mixed traffic, an agent restarted every {args.restart_every:.0f} s",
            flush=True,
        )
        stop_at = time.monotonic() + args.duration
        asyncio.run(soak_run(system, daphne.port, token, args.duration, args.restart_every, tally, stop_at))
        end_rss = process_rss(system, daphne)
    finally:
        if daphne is not None:
            daphne.stop()
        system.stop()
    total = sum(tally.outcomes.values())
    errors = total - tally.outcomes["success"]
    print(
        f"\nrequests {total:,}  errors {errors:,} ({100 * errors / max(total, 1):.3f} %)  "
        f"p50 {pct(tally.latencies, 0.5) * 1000:.1f} ms  p99 {pct(tally.latencies, 0.99) * 1000:.1f} ms  "
        f"throughput {total / args.duration:,.0f}/s"
    )
    print("outcomes: " + ", ".join(f"{k} {v:,}" for k, v in tally.outcomes.most_common()))
    print("\n| process | RSS start | RSS end |\n|---|---|---|")
    for name in sorted(set(start_rss) | set(end_rss)):
        s, e = start_rss.get(name), end_rss.get(name)
        print(f"| {name} | {f'{s:.1f} MB' if s else '-'} | {f'{e:.1f} MB' if e else '-'} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("connections")
    p.add_argument("--clients", type=int, default=10_000)
    p.add_argument("--requests", type=int, default=5, help="Requests per connection (the first one included).")
    p = sub.add_parser("websockets")
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--requests", type=int, default=5)
    p = sub.add_parser("soak")
    p.add_argument("--duration", type=float, default=600.0, help="Seconds of traffic (default 600: 10 minutes).")
    p.add_argument("--restart-every", type=float, default=60.0, help="Seconds between agent restarts.")
    sub.add_parser("all")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    if args.command == "connections":
        cmd_connections(args)
    elif args.command == "websockets":
        cmd_websockets(args)
    elif args.command == "soak":
        cmd_soak(args)
    else:
        cmd_connections(argparse.Namespace(clients=10_000, requests=5))
        cmd_websockets(argparse.Namespace(clients=1000, requests=5))
        cmd_soak(argparse.Namespace(duration=60.0, restart_every=15.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
