"""Rate limits per API token and per anonymous client, kept in Django's cache.

A fixed-window counter (``cache.add`` then ``cache.incr``) rather than DRF's
stock sliding log: both operations are atomic in Redis and in the local-memory
cache, so concurrent requests from one client can never all slip under the
limit, and a hit costs O(1) instead of rewriting a list per request. Rates come
from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` under the scopes
``request_user``/``request_anon`` (POST /api/request and WebSocket requests)
and ``route_llm_user``/``route_llm_anon`` (POST /api/route-llm).

With the local-memory cache each web process counts on its own; set
``DJANGO_CACHE=redis`` so several processes share one limit. With Redis a hit
is one Lua script (``redis_throttle``), run on the event loop by the fast
paths and on Django's client by the DRF views, on the same key.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

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


def throttle_hit(*, scope: str, ident: str, now: float | None = None) -> float | None:
    """Count one request; None when allowed, else the seconds until the window resets."""
    window = _window(scope, ident, now)
    if window is None:
        return None
    num, duration, key, now = window
    # The key outlives its window by a second so a request at the
    # boundary cannot see it expire between two hits.
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        count = redis_throttle.hit_sync(cache, key, duration + 1)
    else:
        count = _count_in_django_cache(cache, key, duration + 1)
    return _verdict(count, num, duration, now)


async def throttle_hit_async(*, scope: str, ident: str, now: float | None = None) -> float | None:
    window = _window(scope, ident, now)
    if window is None:
        return None
    num, duration, key, now = window
    cache = caches["default"]
    if isinstance(cache, LocMemCache):
        # A dict behind a lock: cheaper to call on the loop than to hop to a thread.
        count: int | None = _count_in_django_cache(cache, key, duration + 1)
    elif isinstance(cache, RedisCache):
        count = await redis_throttle.hit_async(cache, key, duration + 1)
    else:  # any other backend does blocking I/O: run it in a thread
        count = await sync_to_async(_count_in_django_cache, thread_sensitive=False)(cache, key, duration + 1)
    return _verdict(count, num, duration, now)


class _FixedWindowThrottle(SimpleRateThrottle):
    """DRF face of ``throttle_hit``; subclasses pick the scope and who is counted."""

    scope: str = ""
    timer: Callable[[], float] = time.time

    def __init__(self) -> None:
        self._wait: float | None = None
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)  # type: ignore[return-value]  # see rate_for

    def ident_for(self, request: Any) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        return self.ident_for(request)

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        ident = self.ident_for(request)
        if ident is None:
            return True
        self._wait = throttle_hit(scope=self.scope, ident=ident, now=self.timer())
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class _UserThrottle(_FixedWindowThrottle):
    def ident_for(self, request: Any) -> str | None:
        user = request.user
        return f"user:{user.pk}" if user and user.is_authenticated else None


class _AnonThrottle(_FixedWindowThrottle):
    def ident_for(self, request: Any) -> str | None:
        user = request.user
        if user and user.is_authenticated:
            return None
        from orchestrator_site.web.principals import client_ip_of_request

        return f"anon:{client_ip_of_request(request)}"


class RequestUserThrottle(_UserThrottle):
    scope = "request_user"


class RequestAnonThrottle(_AnonThrottle):
    scope = "request_anon"


class RouteLLMUserThrottle(_UserThrottle):
    scope = "route_llm_user"


class RouteLLMAnonThrottle(_AnonThrottle):
    scope = "route_llm_anon"


REQUEST_THROTTLES = [RequestUserThrottle, RequestAnonThrottle]
ROUTE_LLM_THROTTLES = [RouteLLMUserThrottle, RouteLLMAnonThrottle]
