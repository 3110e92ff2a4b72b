#!/usr/bin/env python
"""The shared (Redis) rate limit of the fast HTTP paths, by itself: CPU per hit.

    .venv/bin/python bench/bench_rate_limit.py [--hits 20000] [--rounds 3]

With ``DJANGO_CACHE=redis`` every POST /api/route-llm and /api/request counts
one hit on a Redis counter before doing anything else. This measures that hit
on the event loop (uvloop, the local Redis at REDIS_URL, keys under a private
prefix removed afterwards), with 1 and 32 concurrent callers, three ways in
one run, interleaved over several rounds:

* ``django cache, thread``: Django's ``cache.add`` + ``cache.incr`` through
  ``sync_to_async``, what the fast paths did before the Redis limiter;
* ``one EVAL per hit``: the Lua script awaited once per hit;
* ``coalesced`` (what ``orchestrator_site.web.redis_throttle`` does): while a
  round trip is out, hits wait and go in one pipeline, one INCRBY per counter.

Printed per way and concurrency: hits/s, and CPU µs per hit of this process
and of the Redis server (from INFO cpu), medians over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
import weakref
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def setup_django(prefix: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
            "DJANGO_CACHE": "redis",
            "REDIS_KEY_PREFIX": prefix,
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()


def redis_cpu_s(client) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def drive(hit, total: int, concurrency: int) -> None:
    per_worker = total // concurrency

    async def worker(n: int) -> None:
        for _ in range(per_worker):
            await hit(f"bench:{n % 4}")  # a few clients, so a batch holds several counters

    await asyncio.gather(*(worker(n) for n in range(concurrency)))


def ways():
    from asgiref.sync import sync_to_async
    from django.core.cache import caches

    from agents.runtime.redis_conn import make_client
    from orchestrator_site.web import redis_throttle
    from orchestrator_site.web.throttling import _count_in_django_cache

    cache = caches["default"]
    counters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, redis_throttle._LoopCounter] = (
        weakref.WeakKeyDictionary()
    )

    def counter() -> redis_throttle._LoopCounter:
        loop = asyncio.get_running_loop()  # each measurement runs its own loop
        if loop not in counters:
            counters[loop] = redis_throttle._LoopCounter(loop, redis_throttle.redis_location(cache))
            # A connection per caller: with fewer, 32 callers queue for connections (and some
            # waited past the 0.5 s hit timeout in redis-py's blocking pool).
            counters[loop].client = make_client(counters[loop].url, max_connections=64)
        return counters[loop]

    async def django_thread(key: str) -> None:
        await sync_to_async(_count_in_django_cache, thread_sensitive=False)(cache, key, 61)

    async def eval_per_hit(key: str) -> None:
        await counter()._count({cache.make_and_validate_key(key): (61, 1)})

    async def coalesced(key: str) -> None:
        await redis_throttle.hit_async(cache, key, 61)

    return {"django cache, thread": django_thread, "one EVAL per hit": eval_per_hit, "coalesced": coalesced}


def measure(hit, total: int, concurrency: int, raw) -> tuple[float, float, float]:
    import uvloop

    redis_before, cpu_before, t0 = redis_cpu_s(raw), time.process_time(), time.perf_counter()
    uvloop.run(drive(hit, total, concurrency))
    wall, cpu, redis_cpu = time.perf_counter() - t0, time.process_time() - cpu_before, redis_cpu_s(raw) - redis_before
    return total / wall, cpu / total * 1e6, redis_cpu / total * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    setup_django(prefix)
    import redis
    from django.conf import settings

    raw = redis.Redis.from_url(settings.REDIS_URL)
    results: dict[tuple[str, int], list[tuple[float, float, float]]] = {}
    try:
        for _ in range(args.rounds):
            for concurrency in (1, 32):
                for name, hit in ways().items():
                    # The thread way is ~10x slower per hit: fewer of them keep the run short.
                    total = args.hits // 5 if name.startswith("django") else args.hits
                    results.setdefault((name, concurrency), []).append(measure(hit, total, concurrency, raw))
    finally:
        for key in raw.scan_iter(f"{prefix}*"):
            raw.delete(key)
    print(f"\nshared rate limit, one hit per request ({os.cpu_count()} CPUs, {args.rounds} rounds, medians)")
    print("| way | callers | hits/s | this process CPU µs/hit | Redis CPU µs/hit |")
    print("|---|---|---|---|---|")
    for (name, concurrency), rows in results.items():
        rate, cpu, redis_cpu = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"| {name} | {concurrency} | {rate:,.0f} | {cpu:.1f} | {redis_cpu:.1f} |")


if __name__ == "__main__":
    main()
