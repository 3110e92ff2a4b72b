#!/usr/bin/env python3
"""Benchmark the web interfaces against the raw socket, in one run.

Starts a private system (orchestrator + naming agent, via tests/support/system.py)
and a real Daphne in front of it, then measures the same request (naming.echo)
three ways with C concurrent clients, each client doing one request at a time:

* raw:  agents.client.AsyncClient connections to the orchestrator's client socket
* http: POST /api/request through Daphne (keep-alive connections, token auth)
* ws:   request frames over /ws/ through Daphne

Rounds interleave the three so machine noise hits them alike; medians of the
rounds are reported. Run from the project root:

    .venv/bin/python bench/bench_web.py                 # 32 clients, 3 rounds of 4 s
    .venv/bin/python bench/bench_web.py --clients 1 --clients 32 --seconds 3 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

import websockets  # noqa: E402

from agents.client import AsyncClient  # noqa: E402
from tests.support.system import System  # noqa: E402
from tests.web.daphne_proc import Daphne  # noqa: E402

BODY: dict[str, Any] = {"agent": "naming", "action": "echo", "data": {"text": "hello", "n": 1}}

Worker = Callable[[float, list[float]], Awaitable[int]]


# --- the three kinds of client ---------------------------------------------------------------------


async def raw_worker(socket_path: str) -> Worker:
    client = await AsyncClient.connect(socket_path)

    async def run(until: float, samples: list[float]) -> int:
        n = 0
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            frame = await client.request("naming", "echo", BODY["data"])
            samples.append(time.perf_counter() - t0)
            assert frame["status"] == "success", frame
            n += 1
        return n

    run.close = client.close  # type: ignore[attr-defined]
    return run


async def http_worker(port: int, token: str) -> Worker:
    return await http_client_worker(
        port, "POST", "/api/request", json.dumps(BODY).encode(), {"Authorization": f"Token {token}"}
    )


async def http_client_worker(
    port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Worker:
    """A minimal HTTP/1.1 keep-alive client, so the load generator costs less than the server."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def one() -> None:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        payload = await reader.readexactly(length)
        assert status == 200, (status, payload[:200])

    async def run(until: float, samples: list[float]) -> int:
        n = 0
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            await one()
            samples.append(time.perf_counter() - t0)
            n += 1
        return n

    async def close() -> None:
        writer.close()

    run.close = close  # type: ignore[attr-defined]
    run.once = one  # type: ignore[attr-defined]
    return run


async def ws_worker(port: int, token: str) -> Worker:
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/?token={token}", max_queue=None)
    frame = json.dumps(BODY)

    async def run(until: float, samples: list[float]) -> int:
        n = 0
        while time.perf_counter() < until:
            t0 = time.perf_counter()
            await ws.send(frame)
            reply = json.loads(await ws.recv())
            samples.append(time.perf_counter() - t0)
            assert reply["status"] == "success", reply
            n += 1
        return n

    run.close = ws.close  # type: ignore[attr-defined]
    return run


# --- measuring -------------------------------------------------------------------------------------------


async def measure(make: Callable[[], Awaitable[Worker]], clients: int, seconds: float) -> dict[str, float]:
    workers = [await make() for _ in range(clients)]
    try:
        warm: list[float] = []
        await asyncio.gather(*(w(time.perf_counter() + 0.5, warm) for w in workers))
        samples: list[float] = []
        started = time.perf_counter()
        counts = await asyncio.gather(*(w(started + seconds, samples) for w in workers))
        elapsed = time.perf_counter() - started
    finally:
        for w in workers:
            await w.close()  # type: ignore[attr-defined]
    samples.sort()
    return {
        "req_s": sum(counts) / elapsed,
        "p50_ms": samples[len(samples) // 2] * 1000,
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000,
        "n": len(samples),
    }


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}


async def bench(
    system: System, daphne: Daphne, token: str, clients_list: list[int], seconds: float, rounds: int
) -> list[tuple[int, str, dict[str, float]]]:
    kinds: dict[str, Callable[[], Awaitable[Worker]]] = {
        "raw socket": lambda: raw_worker(str(system.client_socket)),
        "POST /api/request": lambda: http_worker(daphne.port, token),
        "WebSocket /ws/": lambda: ws_worker(daphne.port, token),
    }
    out: list[tuple[int, str, dict[str, float]]] = []
    for clients in clients_list:
        results: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        for r in range(rounds):
            for name, make in kinds.items():
                results[name].append(await measure(make, clients, seconds))
                print(
                    f"  clients={clients} round={r + 1} {name}: "
                    f"{results[name][-1]['req_s']:.0f} req/s p50 {results[name][-1]['p50_ms']:.2f} ms",
                    file=sys.stderr,
                    flush=True,
                )
        out.extend((clients, name, median_of(rs)) for name, rs in results.items())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, action="append", help="Concurrent clients (repeatable; default 32).")
    parser.add_argument("--seconds", type=float, default=4.0, help="Measured seconds per kind and round.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    clients_list = args.clients or [32]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    # No rate limit for the benchmark's token (the defaults would throttle 32 busy clients).
    system = System(env={"API_RATE_REQUEST_USER": "100000000/min", "LOG_LEVEL": "WARNING"})
    daphne = None
    try:
        system.start()
        system.start_agent("naming", "BENCH-NAMING-1")
        token = system.manage("create_api_token", "bench", "--create").stdout.strip()
        daphne = Daphne(system.env, system.root / "daphne.log").start()
        rows = asyncio.run(bench(system, daphne, token, clients_list, args.seconds, args.rounds))
    finally:
        if daphne is not None:
            daphne.stop()
        system.stop()
    print(f"\nnaming.echo, {args.rounds} rounds x {args.seconds:g} s, medians (one request at a time per client)\n")
    print("| clients | path | req/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|")
    for clients, name, m in rows:
        print(f"| {clients} | {name} | {m['req_s']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
