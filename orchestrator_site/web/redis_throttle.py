"""Rate-limit counters in Redis, counted by one Lua script, from the event loop.

Used by ``throttling`` when the Django cache is ``RedisCache``
(``DJANGO_CACHE=redis``, what several web processes need to share one limit
per client). Before this, the fast paths ran Django's ``cache.add`` +
``cache.incr`` through ``sync_to_async``: three round trips and a thread hop
per request, about 7 ms of server CPU per POST /api/route-llm under 32
clients (bench/router.md). Here a hit is one EVALSHA on the loop's own
``redis.asyncio`` client.

The counter is the very key Django's cache would use (``cache.make_key``; an
integer is stored unpickled by Django's RedisSerializer), so the DRF views,
which count through the same script on Django's own client, and the fast
paths share one count.

If Redis cannot be reached, the limit is not enforced (fail open) and a
warning is logged at most once a minute: an outage of the shared cache must
not take the router down with it.
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
# Returns the count including this hit. INCR and EXPIRE in one script: no
# request can find the key created but without an expiry.
HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

# A hung Redis must not hold a request for long: past this the hit is let through.
HIT_TIMEOUT_S = 0.5
_WARN_EVERY_S = 60.0
_last_warning = 0.0

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[str, aioredis.Redis, Any]]" = (
    weakref.WeakKeyDictionary())


def redis_location(cache: Any) -> str:
    """The URL a RedisCache writes to (the first server when several are configured)."""
    servers = cache._servers  # Django keeps the parsed LOCATION here
    return servers[0]


def _loop_client(url: str) -> tuple[aioredis.Redis, Any]:
    """This event loop's client and registered script (a redis.asyncio client is bound to one loop)."""
    loop = asyncio.get_running_loop()
    entry = _clients.get(loop)
    if entry is None or entry[0] != url:
        client = make_client(url, max_connections=64)
        entry = _clients[loop] = (url, client, client.register_script(HIT_SCRIPT))
    return entry[1], entry[2]


def _warn(exc: BaseException) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= _WARN_EVERY_S:
        _last_warning = now
        logger.warning("Rate limits are not enforced: the Redis cache does not answer (%s)", exc or type(exc).__name__)


async def hit_async(cache: Any, key: str, lifetime_s: int) -> int | None:
    """Count one hit on ``key`` of the RedisCache ``cache``; the new count, or None if Redis failed."""
    _, script = _loop_client(redis_location(cache))
    try:
        async with asyncio.timeout(HIT_TIMEOUT_S):
            return int(await script(keys=[cache.make_and_validate_key(key)], args=[lifetime_s]))
    except (RedisError, OSError, TimeoutError) as exc:
        _warn(exc)
        return None


def hit_sync(cache: Any, key: str, lifetime_s: int) -> int | None:
    """The same count on Django's own (thread-safe, synchronous) client, for the DRF views."""
    full_key = cache.make_and_validate_key(key)
    try:
        client = cache._cache.get_client(full_key, write=True)
        return int(client.register_script(HIT_SCRIPT)(keys=[full_key], args=[lifetime_s]))
    except (RedisError, OSError) as exc:
        _warn(exc)
        return None
