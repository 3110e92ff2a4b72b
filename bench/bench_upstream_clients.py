#!/usr/bin/env python
"""The gateway's choice of HTTP client upstream: CPU per request of each candidate against the same fake.

    .venv/bin/python bench/bench_upstream_clients.py [--clients 1,32] [--seconds 2] [--rounds 3]

One process, uvloop, the fake provider (tests/support/fake_provider.py) in a process of its own answering a
non-streamed chat completion at once. Each candidate runs N concurrent callers for --seconds, the
candidates interleaved round after round; the table gives the medians of requests/s and of this process's
CPU per request (time.process_time), which is what the client costs the gateway:

* httpx.AsyncClient, one client (what issue 15 first named);
* httpx, eight clients taken in turn (the gateway's first version: httpcore's pool looks at every pooled
  connection on each request, so splitting it helped);
* httpcore's AsyncConnectionPool alone (httpx without its own layer);
* aiohttp.ClientSession (what llmgateway/upstream.py uses);
* httpx2, when installed (the openai package's own dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import httpcore  # noqa: E402
import httpx  # noqa: E402
import uvloop  # noqa: E402

from bench.bench_gateway import MESSAGES, UPSTREAM_MODEL, FakeProcess  # noqa: E402

Call = Callable[[], Awaitable[None]]


async def measure(call: Call, clients: int, seconds: float) -> tuple[float, float]:
    """(requests/s, CPU µs per request) of ``clients`` callers looping on ``call`` for ``seconds``."""
    count = 0
    end = time.perf_counter() + seconds

    async def caller() -> None:
        nonlocal count
        while time.perf_counter() < end:
            await call()
            count += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(clients)))
    return count / (time.perf_counter() - started), (time.process_time() - cpu) / max(count, 1) * 1e6


async def candidates(url: str, key: str, stack: list[Callable[[], Awaitable[None]]]) -> dict[str, Call]:
    body = json.dumps({"model": UPSTREAM_MODEL, "messages": MESSAGES, "max_tokens": 64}).encode()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    wide = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    one = httpx.AsyncClient(limits=wide, trust_env=False)
    eight = [
        httpx.AsyncClient(limits=httpx.Limits(max_connections=8, max_keepalive_connections=8), trust_env=False)
        for _ in range(8)
    ]
    turn = itertools.cycle(eight)
    pool = httpcore.AsyncConnectionPool(max_connections=64, max_keepalive_connections=64)
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()] + [(b"host", b"127.0.0.1")]
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), cookie_jar=aiohttp.DummyCookieJar())
    stack += [one.aclose, *(c.aclose for c in eight), pool.aclose, session.close]

    async def via_httpx() -> None:
        async with one.stream("POST", url, content=body, headers=headers) as r:
            await r.aread()

    async def via_httpx_eight() -> None:
        async with next(turn).stream("POST", url, content=body, headers=headers) as r:
            await r.aread()

    async def via_httpcore() -> None:
        async with pool.stream("POST", url, content=body, headers=raw_headers) as r:
            await r.aread()

    async def via_aiohttp() -> None:
        async with session.post(url, data=body, headers=headers) as r:
            await r.read()

    out: dict[str, Call] = {
        "httpx, 1 client": via_httpx,
        "httpx, 8 clients in turn": via_httpx_eight,
        "httpcore pool": via_httpcore,
        "aiohttp (the gateway's)": via_aiohttp,
    }
    try:
        import httpx2
    except ImportError:
        return out
    nxt = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=64, max_keepalive_connections=64), trust_env=False)
    stack.append(nxt.aclose)

    async def via_httpx2() -> None:
        async with nxt.stream("POST", url, content=body, headers=headers) as r:
            await r.aread()

    out["httpx2"] = via_httpx2
    return out


async def run(args: argparse.Namespace, url: str, key: str) -> None:
    closers: list[Callable[[], Awaitable[None]]] = []
    calls = await candidates(url, key, closers)
    try:
        for clients in args.clients:
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in calls}
            for call in calls.values():
                await measure(call, clients, 0.3)  # warm: connections open, code paths hot
            for _ in range(args.rounds):
                for name, call in calls.items():
                    results[name].append(await measure(call, clients, args.seconds))
            print(
                f"\n{clients} concurrent caller(s), medians of {args.rounds} interleaved rounds of {args.seconds} s:\n"
            )
            print("| client | requests/s | client CPU µs per request |")
            print("|---|---|---|")
            for name, rows in results.items():
                print(
                    f"| {name} | {statistics.median(r[0] for r in rows):,.0f} | "
                    f"{statistics.median(r[1] for r in rows):,.0f} |"
                )
    finally:
        for close in closers:
            await close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,32", help="comma-separated concurrency levels")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.clients = [int(c) for c in args.clients.split(",")]
    key = "sk-bench-clients"
    with tempfile.TemporaryDirectory(prefix="bench-clients-") as tmp:
        fake = FakeProcess(key, Path(tmp) / "fake.log", api_format="openai", mode="ok", chunks=20)
        try:
            uvloop.run(run(args, fake.base_url.rstrip("/") + "/chat/completions", key))
        finally:
            fake.stop()


if __name__ == "__main__":
    main()
