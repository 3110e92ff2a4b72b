#!/usr/bin/env python
"""Router benchmark: scoring, route_request with the database, HTTP under Daphne.

    .venv/bin/python bench/bench_router.py [--seconds 4] [--no-django-path] [--web-procs 1,2]
        [--redis-state] [--database-url postgres://postgres@127.0.0.1:5432/postgres]

Everything runs against a fresh temporary SQLite database (migrated here; or a
fresh database on the PostgreSQL server of --database-url, dropped after), so
the numbers include the real work: budget row lock, spend SUM over the
ledger, a RouteLog row and a ledger reservation per decision (the request
used, 5000 "analysis" tokens, goes to a paid provider; the budget is raised
so it never runs out during the run).

HTTP: a Daphne process is started on a free port serving the site plus a
trivial POST /bench/noop on the same fast-path dispatcher; a keep-alive
asyncio client (uvloop) drives it with 1 and 32 concurrent connections. With
--no-django-path the comparison run of POST /api/route-llm through Django
and DRF (a second Daphne with LLMROUTER_FAST_PATH=0) is skipped.
The client shares the machine's two cores with the server: on a 2-core box
the numbers are a floor, not a ceiling.

--web-procs 1,2 measures only the HTTP rows, once per N, with N Daphne
processes accepting on one socket bound here and passed with --fd (what
supervisor's [fcgi-program] with numprocs=N does); --redis-state adds the
Redis cache and channel layer several web processes need.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.scratch_postgres import private_database  # noqa: E402
from tests.support.net import free_port  # noqa: E402

ROUTE_BODY = b'{"token_count": 5000, "task_type": "analysis", "priority": "medium", "interface": "bench"}'


# --- setup --------------------------------------------------------------------------------


def prepare_database(tmp: Path, database_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
            "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "0",
            # The web layer's anonymous rate limit would otherwise answer 429s.
            "API_RATE_ROUTE_LLM_ANON": "1000000000/min",
            "API_RATE_ROUTE_LLM_USER": "1000000000/min",
        }
    )
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.update(env)
    import django

    django.setup()
    from llmrouter.models import Budget

    Budget.objects.update(amount=1_000_000)
    return env


# --- in-process -------------------------------------------------------------------------------


def bench_scoring(n: int = 50_000) -> dict[str, float]:
    from llmrouter import scoring
    from llmrouter.models import Provider

    specs = [p.to_spec() for p in Provider.objects.order_by("display_order", "key")]
    query = scoring.Query(5000, "coding", "high", 3000)
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            scoring.decide(specs, query, remaining_budget=100.0, hard_cap_remaining=100.0)
        runs.append((time.perf_counter() - started) / n)
    per = statistics.median(runs)
    return {"us_per_decision": per * 1e6, "decisions_per_s": 1 / per}


def bench_route_request(n: int = 2000) -> dict[str, float]:
    from django.db import connections

    from llmrouter import services

    for _ in range(100):  # warm up: connection, statement caches
        services.route_request(token_count=5000, task_type="analysis", interface="bench")
    times = []
    started = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        services.route_request(token_count=5000, task_type="analysis", interface="bench")
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    connections.close_all()
    times.sort()
    return {"decisions_per_s": n / total, "p50_ms": times[n // 2] * 1e3, "p99_ms": times[int(n * 0.99)] * 1e3}


# --- HTTP ---------------------------------------------------------------------------------------


def bench_route_batches(n: int = 2048, size: int = 32) -> dict[str, float]:
    """services.route_requests in batches, as the fast path does under concurrent load."""
    from django.db import connections

    from llmrouter import services

    request = {
        "token_count": 5000,
        "task_type": "analysis",
        "priority": "medium",
        "max_latency": 0.0,
        "interface": "bench",
    }
    started = time.perf_counter()
    for _ in range(n // size):
        services.route_requests([request] * size)
    total = time.perf_counter() - started
    connections.close_all()
    return {"decisions_per_s": n / total, "us_per_decision": total / n * 1e6}


def start_daphne(env: dict[str, str], port: int, log: Path, extra_env: dict[str, str] | None = None):
    with open(log, "ab") as out:  # the child has its own copy once Popen returns
        proc = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "bench.router_asgi:application"],
            cwd=ROOT,
            env={**env, **(extra_env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_listening(port, [proc], log)
    return proc


def wait_listening(port: int, procs: list[subprocess.Popen], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            for p in procs:
                stop(p)
            raise RuntimeError(f"daphne exited:\n{log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    for p in procs:
        stop(p)
    raise RuntimeError("daphne did not start listening within 60 s")


def start_daphne_shared(env: dict[str, str], n: int, log: Path) -> tuple[int, list[subprocess.Popen]]:
    """N Daphne processes accepting on one listening socket passed as fd (what supervisor's
    [fcgi-program] with numprocs=N does): the kernel hands each connection to one of them."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    procs = []
    try:
        for _ in range(n):
            with open(log, "ab") as out:  # the child has its own copy once Popen returns
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "daphne", "--fd", str(fd), "bench.router_asgi:application"],
                        cwd=ROOT,
                        env=env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        pass_fds=(fd,),
                        start_new_session=True,
                    )
                )
    finally:
        sock.close()  # the children hold their own copies
    # Every process must have started (a connection may be accepted by the first one ready).
    wait_listening(port, procs, log)
    time.sleep(3.0)  # the others finish importing Django; warm-up runs before each measurement anyway
    return port, procs


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def cpu_seconds(pids: int | list[int]) -> float:
    """User + system CPU time of processes (all their threads) so far, from /proc."""
    total = 0
    for pid in [pids] if isinstance(pids, int) else pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length, chunked = None, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        await reader.readexactly(length)
    elif chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _client(port: int, request: bytes, stop_at: float, latencies: list[float], statuses: Counter) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            writer.write(request)
            statuses[await _read_response(reader)] += 1
            latencies.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def _load(
    port: int, path: str, body: bytes, clients: int, seconds: float, pid: int | list[int]
) -> dict[str, Any]:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    # Warm-up: connections, imports, the DB thread's connection.
    await asyncio.gather(*(_client(port, request, time.perf_counter() + 0.5, [], Counter()) for _ in range(clients)))
    latencies: list[float] = []
    statuses: Counter = Counter()
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, request, started + seconds, latencies, statuses) for _ in range(clients)))
    elapsed = time.perf_counter() - started
    server_cpu = cpu_seconds(pid) - cpu_before
    latencies.sort()
    n = len(latencies)
    return {
        "req_per_s": n / elapsed,
        "p50_ms": latencies[n // 2] * 1e3,
        "p99_ms": latencies[int(n * 0.99)] * 1e3,
        "requests": n,
        "statuses": dict(statuses),
        "server_cpu_ms": server_cpu * 1e3 / max(1, n),
    }


def _measured(pid: int | list[int], port: int, path: str, body: bytes, clients: int, seconds: float) -> dict:
    """One load run, plus the server's CPU time per request: a figure the machine's
    other load barely changes (1000 / it is the one-process ceiling in req/s)."""
    import uvloop

    return uvloop.run(_load(port, path, body, clients, seconds, pid))


def bench_http(
    env: dict[str, str], tmp: Path, seconds: float, django_path: bool, web_procs: list[int] | None = None
) -> list[tuple[str, int, dict]]:
    rows = []
    endpoints = (
        ("trivial POST /bench/noop (fast path)", "/bench/noop", b"{}"),
        ("POST /api/route-llm (fast path)", "/api/route-llm", ROUTE_BODY),
    )
    if web_procs:
        # Same run, same database: N Daphne processes sharing one listening socket.
        for n in web_procs:
            port, procs = start_daphne_shared(env, n, tmp / f"daphne-x{n}.log")
            try:
                for label, path, body in endpoints:
                    for clients in (1, 32):
                        rows.append(
                            (
                                f"{label}, {n} Daphne",
                                clients,
                                _measured([p.pid for p in procs], port, path, body, clients, seconds),
                            )
                        )
            finally:
                for p in procs:
                    stop(p)
        return rows
    port = free_port()
    proc = start_daphne(env, port, tmp / "daphne.log")
    try:
        for label, path, body in endpoints:
            for clients in (1, 32):
                rows.append((label, clients, _measured(proc.pid, port, path, body, clients, seconds)))
    finally:
        stop(proc)
    if django_path:
        port = free_port()
        proc = start_daphne(env, port, tmp / "daphne-django.log", {"LLMROUTER_FAST_PATH": "0"})
        try:
            for clients in (1, 32):
                rows.append(
                    (
                        "POST /api/route-llm (Django + DRF view)",
                        clients,
                        _measured(proc.pid, port, "/api/route-llm", ROUTE_BODY, clients, seconds),
                    )
                )
        finally:
            stop(proc)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each HTTP measurement")
    parser.add_argument("--no-django-path", action="store_true", help="skip the Django/DRF comparison")
    parser.add_argument(
        "--redis-state",
        action="store_true",
        help="with --web-procs: DJANGO_CACHE=redis and CHANNEL_LAYER=redis (what the deployment "
        "sets for more than one web process; rate-limit counters then live in Redis)",
    )
    parser.add_argument(
        "--web-procs",
        type=lambda v: [int(x) for x in v.split(",")],
        default=None,
        metavar="N[,N...]",
        help="HTTP rows only, for each N: N Daphne processes on one shared socket (--fd), "
        "as supervisor's [fcgi-program:web] runs them; e.g. --web-procs 1,2",
    )
    parser.add_argument(
        "--database-url",
        metavar="postgres://...",
        help="a PostgreSQL server (any database on it): the run uses a fresh database created "
        "there and dropped at the end, instead of a temporary SQLite file",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-router-"))
    database_url, drop = private_database(args.database_url, "bench_router") if args.database_url else (None, None)
    try:
        env = prepare_database(tmp, database_url)
        engine = "PostgreSQL" if database_url else "SQLite"
        print(f"database: {engine}", flush=True)
        if args.web_procs:
            if args.redis_state:
                env.update(
                    {"DJANGO_CACHE": "redis", "CHANNEL_LAYER": "redis", "REDIS_KEY_PREFIX": f"bench:{os.getpid()}:"}
                )
            print(f"rate limits and channel layer: {'Redis' if args.redis_state else 'in memory'}", flush=True)
            print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
            print("\n| endpoint | clients | req/s | p50 ms | p99 ms | server CPU ms/req | statuses |")
            print("|---|---|---|---|---|---|---|")
            for label, clients, r in bench_http(env, tmp, args.seconds, False, args.web_procs):
                print(
                    f"| {label} | {clients} | {r['req_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                    f"| {r['server_cpu_ms']:.2f} | {r['statuses']} |",
                    flush=True,
                )
            print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
            return
        scoring = bench_scoring()
        print(
            f"scoring only (4 seed providers):  {scoring['us_per_decision']:.1f} us/decision, "
            f"{scoring['decisions_per_s']:,.0f} decisions/s",
            flush=True,
        )
        routed = bench_route_request()
        print(
            f"route_request + {engine} (lock, SUM, log, reserve):  {routed['decisions_per_s']:,.0f} decisions/s, "
            f"p50 {routed['p50_ms']:.3f} ms, p99 {routed['p99_ms']:.3f} ms",
            flush=True,
        )
        batched = bench_route_batches()
        print(
            f"route_requests, batches of 32 (one transaction each):  {batched['decisions_per_s']:,.0f} decisions/s, "
            f"{batched['us_per_decision']:.0f} us/decision",
            flush=True,
        )
        print("\n| endpoint | clients | req/s | p50 ms | p99 ms | server CPU ms/req | statuses |")
        print("|---|---|---|---|---|---|---|")
        for label, clients, r in bench_http(env, tmp, args.seconds, not args.no_django_path):
            print(
                f"| {label} | {clients} | {r['req_per_s']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
                f"| {r['server_cpu_ms']:.2f} | {r['statuses']} |",
                flush=True,
            )
    finally:
        if drop is not None:
            drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
