#!/usr/bin/env python3
"""The same echo request over the socket path and over Redis, in one run.

    .venv/bin/python bench/bench_transports.py            # about two minutes
    .venv/bin/python bench/bench_transports.py --quick    # a smoke run

Starts a private system (tests/support/system.py: temp sockets, temp SQLite,
a unique Redis key prefix on the shared Redis) with three ProbeAgent
processes: one on the socket only, one on Redis only (a type with no socket
instance, so requests to it through the orchestrator take the fallback), one
on Redis only under a type name of its own (the legacy pub/sub channels are
unprefixed, so a private name keeps other runs out). Then, from uvloop +
orjson clients, for each path:

* one in flight: sequential round trips, p50/p99 in microseconds;
* many in flight: a window of requests kept in flight, requests/s.

Paths: socket (client -> orchestrator -> agent, bench_socket's lean client),
streams (client -> Redis stream -> agent -> reply stream, agents.redis_client),
fallback (client -> orchestrator -> Redis stream -> agent), pub/sub
(PUBLISH agent.<type>.request, answers on agent.<type>.response). Ratios are
socket over each Redis path.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

import orjson  # noqa: E402
import uvloop  # noqa: E402

from bench.bench_socket import run_case, summarize  # noqa: E402

ECHO = {"text": "hello", "n": 1}
Call = Callable[[int], Awaitable[dict[str, Any]]]


async def measure(call: Call, *, n_seq: int, total: int, window: int, warmup: int = 200) -> dict[str, float]:
    """p50/p99 one at a time, then requests/s with ``window`` in flight (a sliding window of tasks)."""
    samples = []
    for i in range(warmup + n_seq):
        t0 = time.perf_counter()
        answer = await call(i)
        if i >= warmup:
            samples.append(time.perf_counter() - t0)
        if answer.get("status") != "success":
            raise SystemExit(f"benchmark request failed: {answer}")
    lat = summarize(samples)
    slots = asyncio.Semaphore(window)
    failures = 0
    example: dict[str, Any] = {}

    async def one(i: int) -> None:
        nonlocal failures
        try:
            answer = await call(i)
            if answer.get("status") != "success":
                failures += 1
                example.update(answer)
        finally:
            slots.release()

    tasks = set()
    t0 = time.perf_counter()
    for i in range(total):
        await slots.acquire()
        task = asyncio.create_task(one(i))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{failures} of {total} pipelined requests failed, e.g. {example}")
    return {**lat, "req_per_s": total / elapsed}


class PubSubClient:
    """A legacy client: PUBLISH requests, match answers on the response channel by request_id."""

    def __init__(self, redis_url: str, agent_type: str):
        from agents.redis_keys import RedisKeys
        from agents.redis_streams import PipelineBatcher
        from agents.runtime.redis_conn import make_client

        self.redis = make_client(redis_url)
        self.request_channel = RedisKeys().legacy_request_channel(agent_type)
        self.response_channel = RedisKeys().legacy_response_channel(agent_type)
        self.batcher = PipelineBatcher(self.redis)
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.prefix = uuid.uuid4().hex[:8]
        self.counter = 0  # request ids must be unique: agents drop a legacy request id seen in the last minute

    async def start(self) -> None:
        self.pubsub = self.redis.pubsub()
        await self.pubsub.subscribe(self.response_channel)
        self.tasks = [asyncio.create_task(self._read()), asyncio.create_task(self.batcher.run())]

    async def _read(self) -> None:
        while True:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None:
                continue
            frame = orjson.loads(message["data"])
            fut = self.waiting.pop(frame.get("request_id"), None)
            if fut is not None and not fut.done():
                fut.set_result(frame)

    async def request(self, i: int) -> dict[str, Any]:
        self.counter += 1
        rid = f"{self.prefix}-{self.counter}"
        fut = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        await self.batcher.call(
            "PUBLISH", self.request_channel, orjson.dumps({"action": "echo", "params": ECHO, "request_id": rid})
        )
        return await asyncio.wait_for(fut, 30)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.pubsub.aclose()
        await self.redis.aclose()


async def redis_paths(
    system: Any, redis_url: str, stream_type: str, pubsub_type: str, *, n_seq: int, total: int, window: int
) -> dict[str, dict[str, float]]:
    from agents.client import AsyncClient
    from agents.redis_client import AsyncRedisAgentClient

    out: dict[str, dict[str, float]] = {}
    async with AsyncRedisAgentClient(redis_url, system.redis_prefix) as streams:
        out["redis streams"] = await measure(
            lambda i: streams.request(stream_type, "echo", ECHO, timeout_ms=30_000),
            n_seq=n_seq,
            total=total,
            window=window,
        )
    client = await AsyncClient.connect(str(system.client_socket))
    try:
        out["orch. -> redis fallback"] = await measure(
            lambda i: client.request(stream_type, "echo", ECHO, timeout_ms=30_000),
            n_seq=n_seq,
            total=total,
            window=window,
        )
    finally:
        await client.close()
    legacy = PubSubClient(redis_url, pubsub_type)
    await legacy.start()
    try:
        out["redis pub/sub"] = await measure(legacy.request, n_seq=n_seq, total=total, window=window)
    finally:
        await legacy.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="Fewer requests (a smoke run).")
    parser.add_argument("--window", type=int, default=1000, help="Requests in flight for the throughput figure.")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()

    from tests.e2e.redis_helpers import delete_prefix, wait_listening
    from tests.support.system import System

    system = System(
        orchestrator_args=("--no-monitor",),
        env={"LOG_LEVEL": "WARNING", "REDIS_URL": args.redis_url, "IDEMPOTENCY_ENABLED": "0"},
    )
    pubsub_type = f"bench{uuid.uuid4().hex[:6]}"
    n_seq, total_socket, total_redis = (1000, 20_000, 5000) if args.quick else (5000, 200_000, 40_000)
    results: list[tuple[str, dict[str, float]]] = []
    try:
        system.start()
        socket_agent = system.start_agent("probe", transport="socket")
        stream_agent = system.start_agent("probe2", transport="redis", wait=False)
        pubsub_agent = system.start_agent(
            pubsub_type, transport="redis", wait=False, class_path="tests.support.agents.ProbeAgent"
        )
        wait_listening(system, "probe2", stream_agent, args.redis_url)
        wait_listening(system, pubsub_type, pubsub_agent, args.redis_url)
        uvloop.install()
        assert system.orchestrator is not None
        pids = {"orchestrator": system.orchestrator.pid, "agent": system.agents[socket_agent].pid}
        results.append(
            (
                "socket (orchestrator)",
                asyncio.run(
                    run_case(
                        system.client_socket,
                        "probe",
                        "echo",
                        lambda i: ECHO,
                        n_seq=n_seq,
                        total=total_socket,
                        window=args.window,
                        warmup=500,
                        pids=pids,
                    )
                ),
            )
        )
        results += list(
            asyncio.run(
                redis_paths(
                    system, args.redis_url, "probe2", pubsub_type, n_seq=n_seq, total=total_redis, window=args.window
                )
            ).items()
        )
    finally:
        delete_prefix(system, args.redis_url)
        system.stop()

    socket = results[0][1]
    print(f"\necho over each path ({os.cpu_count()} CPUs, {args.window} in flight for req/s)")
    print(f"{'path':<26} {'p50 us':>8} {'p99 us':>8} {'req/s':>10} {'p50 ratio':>10} {'req/s ratio':>12}")
    for name, r in results:
        lat_ratio = r["p50_us"] / socket["p50_us"]
        rps_ratio = socket["req_per_s"] / r["req_per_s"]
        print(
            f"{name:<26} {r['p50_us']:>8.0f} {r['p99_us']:>8.0f} {r['req_per_s']:>10,.0f} "
            f"{lat_ratio:>9.1f}x {rps_ratio:>11.1f}x"
        )
    print("ratios: how many times lower the socket path's p50 is, and how many times higher its req/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
