"""Rate-limit counters in Redis, counted by one Lua script, from the event loop.

Used by ``throttling`` when the Django cache is ``RedisCache``
(``DJANGO_CACHE=redis``, what several web processes need to share one limit
per client). Before this, the fast paths ran Django's ``cache.add`` +
``cache.incr`` through ``sync_to_async``: three round trips and a thread hop
per request, about 5 ms of server CPU per POST /api/route-llm (bench/router.md).

Here the hits of a busy loop are coalesced: while one round trip is out, new
hits wait, then go in one pipeline, all hits on one counter as one INCRBY.
The script's total tells each waiting hit its own number (the last of n hits
that took a counter to T was hit T, the first T - n + 1), so the verdicts are
exactly those of one INCR per hit. A lone hit is never delayed: it leaves at
once when no round trip is out.

The counter is the very key Django's cache would use (``cache.make_key``; an
integer is stored unpickled by Django's RedisSerializer). Every shell of an
endpoint (fast path, DRF view, WebSocket) counts through this module, on the
event loop.

If Redis cannot be reached, the limit is not enforced (fail open) and a
warning is logged at most once a minute: an outage of the shared cache must
not take the router down with it. After a failure Redis is left alone for a
few seconds (every hit passes at once), so a dead or hung Redis costs one
timeout per few seconds, not one per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agents.runtime.redis_conn import make_client

logger = logging.getLogger(__name__)

# KEYS[1]: the counter of one client in one window (a Django cache key).
# ARGV[1]: its lifetime in seconds (the window plus one, so a request at the
#          boundary cannot see it expire between two hits).
# ARGV[2]: how many hits to count.
# Returns the count including these hits. INCRBY and EXPIRE in one script: no
# request can find the key created but without an expiry. Sent with EVAL (the
# server caches the compiled script by its hash): EVALSHA in a redis-py
# pipeline would cost a SCRIPT EXISTS round trip per pipeline.
HIT_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
if count == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

# A hung Redis must not hold a request for long: past this the hit is let through.
HIT_TIMEOUT_S = 0.5
# After a failure, hits pass without asking Redis for this long, then one round trip tries again.
RETRY_AFTER_FAILURE_S = 5.0
_WARN_EVERY_S = 60.0
_last_warning = 0.0
_skip_until = 0.0  # time.monotonic() before which Redis is not asked (set by a failure)

_counters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopCounter] = weakref.WeakKeyDictionary()


def redis_location(cache: Any) -> str:
    """The URL a RedisCache writes to (the first server when several are configured)."""
    servers = cache._servers  # Django keeps the parsed LOCATION here
    return servers[0]


def _redis_resting() -> bool:
    return time.monotonic() < _skip_until


def _failed(exc: BaseException) -> None:
    """Redis failed a hit: let hits through for a while, and say so (at most once a minute)."""
    global _last_warning, _skip_until
    now = time.monotonic()
    _skip_until = now + RETRY_AFTER_FAILURE_S
    if now - _last_warning >= _WARN_EVERY_S:
        _last_warning = now
        logger.warning(
            "Rate limits are not enforced: the Redis cache does not answer (%s: %s)", type(exc).__name__, exc
        )


class _LoopCounter:
    """One event loop's client and the hits waiting for the next round trip (see the module doc)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, url: str) -> None:
        self.loop = loop
        self.url = url
        self.client: aioredis.Redis = make_client(url, max_connections=16)
        # counter key -> (lifetime, the futures of the hits on it, in arrival order)
        self.waiting: dict[str, tuple[int, list[asyncio.Future[int | None]]]] = {}
        self.busy = False  # a round trip is out, or a flush of the waiting hits is scheduled
        self.flushing: asyncio.Task[None] | None = None  # kept until it has answered every waiting hit

    async def hit(self, key: str, lifetime_s: int) -> int | None:
        if self.busy:
            future: asyncio.Future[int | None] = self.loop.create_future()
            entry = self.waiting.get(key)
            if entry is None:
                self.waiting[key] = (lifetime_s, [future])
            else:
                entry[1].append(future)
            return await future
        # Alone: one EVAL awaited right here, no task and no future (under Daphne every extra
        # hop through the loop costs more than the round trip's own CPU).
        self.busy = True
        try:
            return (await self._count({key: (lifetime_s, 1)}))[0]
        finally:
            self._flush_soon()

    def _flush_soon(self) -> None:
        if self.waiting:
            self.flushing = self.loop.create_task(self._flush())
        else:
            self.busy = False

    async def _flush(self) -> None:
        batch: dict[str, tuple[int, list[asyncio.Future[int | None]]]] = {}
        try:
            while self.waiting:
                batch, self.waiting = self.waiting, {}
                totals = await self._count({key: (life, len(futures)) for key, (life, futures) in batch.items()})
                for (_, futures), total in zip(batch.values(), totals, strict=True):
                    first = None if total is None else total - len(futures) + 1
                    for i, future in enumerate(futures):
                        if not future.done():  # its request may have gone away
                            future.set_result(None if first is None else first + i)
        finally:
            self.flushing = None
            self.busy = False
            # Cancelled (loop shutdown) or a bug: nobody may wait for ever; those hits fail open.
            for pending in (batch, self.waiting):
                for _, futures in pending.values():
                    for future in futures:
                        if not future.done():
                            future.set_result(None)
            self.waiting = {}

    async def _count(self, hits: dict[str, tuple[int, int]]) -> list[int | None]:
        """INCRBY each counter (key -> (lifetime, hits)) in one round trip; None for each if Redis failed."""
        try:
            async with asyncio.timeout(HIT_TIMEOUT_S):
                if len(hits) == 1:
                    ((key, (lifetime_s, n)),) = hits.items()
                    return [int(await self.client.eval(HIT_SCRIPT, 1, key, lifetime_s, n))]
                async with self.client.pipeline(transaction=False) as pipe:
                    for key, (lifetime_s, n) in hits.items():
                        pipe.eval(HIT_SCRIPT, 1, key, lifetime_s, n)
                    return [int(total) for total in await pipe.execute()]
        except (RedisError, OSError, TimeoutError) as exc:
            _failed(exc)
            return [None] * len(hits)


async def hit_async(cache: Any, key: str, lifetime_s: int) -> int | None:
    """Count one hit on ``key`` of the RedisCache ``cache``; its number in the window, or None if Redis failed."""
    if _redis_resting():
        return None
    loop = asyncio.get_running_loop()
    url = redis_location(cache)
    counter = _counters.get(loop)
    if counter is None or counter.url != url:
        counter = _counters[loop] = _LoopCounter(loop, url)
    return await counter.hit(cache.make_and_validate_key(key), lifetime_s)
