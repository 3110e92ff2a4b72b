"""Rate limits per API token and per anonymous client, kept in Django's cache.

A fixed-window counter (``cache.add`` then ``cache.incr``) rather than DRF's
stock sliding log: both operations are atomic in Redis and in the local-memory
cache, so concurrent requests from one client can never all slip under the
limit, and a hit costs O(1) instead of rewriting a list per request. Rates come
from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` under the scopes
``request_user``/``request_anon`` (POST /api/request and WebSocket requests)
and ``route_llm_user``/``route_llm_anon`` (POST /api/route-llm and the gateway).

Counted on the event loop by the admissions (admission.py), whichever shell
serves the request (a DRF view reaches them through ``async_to_sync``). With
the local-memory cache each web process counts on its own; set
``DJANGO_CACHE=redis`` so several processes share one limit. With Redis a hit
is one Lua script (``redis_throttle``).
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings

from orchestrator_site.web import redis_throttle

_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'100/min' -> (100, 60); None -> no limit."""
    if rate is None:
        return None
    num, period = rate.split("/")
    return int(num), _DURATIONS[period.strip()[0]]


def rate_for(scope: str) -> tuple[int, int] | None:
    # Read through api_settings each time so override_settings in tests and a
    # settings reload both take effect.
    # DRF's stubs type the rates as numbers; they are "<count>/<period>" strings.
    return parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope))  # type: ignore[arg-type]


def _window(scope: str, ident: str, now: float | None) -> tuple[int, int, str, float] | None:
    """(limit, window length, counter key, now) for one hit; None when the scope has no limit."""
    limit = rate_for(scope)
    if limit is None:
        return None
    num, duration = limit
    now = time.time() if now is None else now
    window = int(now // duration)
    return num, duration, f"throttle:{scope}:{ident}:{window}", now


def _verdict(count: int | None, num: int, duration: int, now: float) -> float | None:
    if count is None or count <= num:  # None: the shared cache failed, and limits fail open
        return None
    return max(0.0, (int(now // duration) + 1) * duration - now)


def _count_in_django_cache(cache: Any, key: str, lifetime_s: int) -> int:
    cache.add(key, 0, timeout=lifetime_s)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=lifetime_s)
        return 1


async def throttle_hit_async(*, scope: str, ident: str, now: float | None = None) -> float | None:
    """Count one request; None when allowed, else the seconds until the window resets."""
    window = _window(scope, ident, now)
    if window is None:
        return None
    num, duration, key, now = window
    # The key outlives its window by a second so a request at the
    # boundary cannot see it expire between two hits.
    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        # A dict behind a lock: cheaper to call on the loop than to hop to a thread.
        count: int | None = _count_in_django_cache(cache, key, duration + 1)
    elif isinstance(cache, RedisCache):
        count = await redis_throttle.hit_async(cache, key, duration + 1)
    else:  # any other backend does blocking I/O: run it in a thread
        count = await sync_to_async(_count_in_django_cache, thread_sensitive=False)(cache, key, duration + 1)
    return _verdict(count, num, duration, now)
