"""The fixed-window rate limiter behind every API limit (time injected)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from orchestrator_site.web.throttling import parse_rate, throttle_hit_async
from tests.web.conftest import clear_local_cache


def throttle_hit(**kwargs: Any) -> float | None:
    return async_to_sync(throttle_hit_async)(**kwargs)


@pytest.fixture
def rates(settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "request_user": "3/min",
            "request_anon": None,
            "route_llm_user": "2/s",
            "route_llm_anon": "1/h",
        },
    }
    clear_local_cache()


def test_parse_rate() -> None:
    assert parse_rate("100/min") == (100, 60)
    assert parse_rate("5/s") == (5, 1)
    assert parse_rate("7/hour") == (7, 3600)
    assert parse_rate(None) is None


def test_a_window_allows_its_limit_then_says_how_long_to_wait(rates: None) -> None:
    t0 = 6000.0  # start of a minute window
    assert [throttle_hit(scope="request_user", ident="user:1", now=t0 + i) for i in range(3)] == [None] * 3
    assert throttle_hit(scope="request_user", ident="user:1", now=t0 + 15) == pytest.approx(45)
    # Other clients are counted apart; the next window starts afresh.
    assert throttle_hit(scope="request_user", ident="user:2", now=t0 + 15) is None
    assert throttle_hit(scope="request_user", ident="user:1", now=t0 + 60) is None


def test_a_scope_without_a_rate_is_unlimited(rates: None) -> None:
    assert all(throttle_hit(scope="request_anon", ident="anon:1", now=1.0) is None for _ in range(50))


def test_route_llm_admission_counts_tokens_and_anonymous_clients_apart(rates: None, settings: Any) -> None:
    from orchestrator_site.web.admission import route_llm_admit
    from orchestrator_site.web.principals import Principal

    def admit(principal: Principal) -> Any:
        return async_to_sync(route_llm_admit)(principal=principal)

    # Hour-long windows: the real clock cannot roll into the next one between these hits.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"route_llm_user": "2/h", "route_llm_anon": "1/h"},
    }
    settings.LLMROUTER = {**settings.LLMROUTER, "ROUTE_ALLOW_ANONYMOUS": True}
    member = Principal(user_id=5, username="member", is_staff=False, client_ip="10.0.0.1")
    assert admit(member) is None and admit(member) is None
    refused = admit(member)
    assert refused.code == "RATE_LIMITED" and refused.details["scope"] == "route_llm_user"
    assert 0 < refused.details["retry_after_s"] <= 3600
    # The anonymous limit (1/h) counts per address, apart from the token holder of the same address.
    assert admit(Principal.anonymous("10.0.0.1")) is None
    assert admit(Principal.anonymous("10.0.0.1")).details["scope"] == "route_llm_anon"
    assert admit(Principal.anonymous("10.0.0.3")) is None


def test_a_spoofed_forwarded_for_gives_no_fresh_anonymous_address(settings: Any) -> None:
    from orchestrator_site.web.principals import client_ip_of_request

    class _Req:
        META = {"REMOTE_ADDR": "10.0.0.1", "HTTP_X_FORWARDED_FOR": "192.0.2.7"}

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": None}
    assert client_ip_of_request(_Req()) == "10.0.0.1"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["fast", "drf"])
def test_route_llm_is_rate_limited_with_an_envelope(rates: None, settings: Any, path: str) -> None:
    from asgiref.sync import async_to_sync
    from django.test import Client

    from tests.web.conftest import asgi_client

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "route_llm_user": "5/min",
            "route_llm_anon": "1/min",
            "request_user": None,
            "request_anon": None,
        },
    }
    # Invalid on purpose: refused by validation before any database work, so the
    # router's worker threads never open a connection this test would leave behind.
    body = b"{}"

    async def via_asgi() -> list[Any]:
        async with asgi_client() as client:
            return [await client.post("/api/route-llm", content=body) for _ in range(2)]

    if path == "fast":
        responses = async_to_sync(via_asgi)()
        first, second = responses
        status, payload, retry = second.status_code, second.json(), second.headers.get("retry-after")
    else:
        client = Client()
        first = client.post("/api/route-llm", body, content_type="application/json")
        second = client.post("/api/route-llm", body, content_type="application/json")
        status, payload, retry = second.status_code, second.json(), second.headers.get("Retry-After")
    assert first.status_code == 400
    assert status == 429
    assert payload["status"] == "error" and payload["error"]["code"] == "RATE_LIMITED"
    assert retry is not None and 1 <= int(retry) <= 60


def test_limits_are_shared_through_the_redis_cache(settings: Any) -> None:
    """With DJANGO_CACHE=redis every web process counts in one place: here two
    independent cache clients (as two processes would have) see one count."""
    import uuid

    from asgiref.sync import async_to_sync
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    from orchestrator_site.web.throttling import throttle_hit_async

    prefix = f"test:{uuid.uuid4().hex[:8]}:cache"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"request_user": "2/min"}}
    assert isinstance(caches["default"], RedisCache)
    t0 = 12000.0
    key = f"throttle:request_user:user:9:{int(t0 // 60)}"
    other_process = RedisCache(settings.REDIS_URL, {"KEY_PREFIX": prefix})
    try:
        assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:9", now=t0) is None
        assert other_process.get(key) == 1
        other_process.incr(key)
        assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:9", now=t0 + 1) is not None
    finally:
        # Only our key: cache.clear() on RedisCache would FLUSHDB a Redis other test runs share.
        other_process.delete(key)


@pytest.fixture(autouse=True)
def _redis_limiter_state() -> Any:
    """A failure makes the Redis limiter rest for a few seconds: no test may inherit that."""
    from orchestrator_site.web import redis_throttle

    redis_throttle._skip_until = redis_throttle._last_warning = 0.0
    yield
    redis_throttle._skip_until = redis_throttle._last_warning = 0.0


@pytest.fixture
def redis_cache(settings: Any) -> Any:
    """Django's cache on the real Redis under a prefix of this test's own; its keys are removed after."""
    import uuid

    import redis
    from django.core.cache import caches

    prefix = f"test:{uuid.uuid4().hex[:8]}:cache"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    yield caches["default"]
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)
    client.close()


def test_the_loop_counts_on_the_key_djangos_cache_uses(redis_cache: Any, settings: Any) -> None:
    """The loop's Lua script counts on the very key Django's cache would use (an unpickled integer)."""
    import redis
    from asgiref.sync import async_to_sync

    from orchestrator_site.web.throttling import throttle_hit_async

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"request_user": "3/min"}}
    t0 = 12000.0
    assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:4", now=t0) is None
    assert redis_cache.get(f"throttle:request_user:user:4:{int(t0 // 60)}") == 1  # Django's client reads it
    assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:4", now=t0 + 1) is None
    assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:4", now=t0 + 2) is None
    assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:4", now=t0 + 3) == pytest.approx(57)
    key = redis_cache.make_and_validate_key(f"throttle:request_user:user:4:{int(t0 // 60)}")
    raw = redis.Redis.from_url(settings.REDIS_URL)
    try:
        count = raw.get(key)
        assert isinstance(count, bytes) and int(count) == 4
        assert 0 < raw.ttl(key) <= 61  # the script gave the counter its lifetime
    finally:
        raw.close()


def test_many_concurrent_hits_on_the_loop_admit_exactly_the_limit(redis_cache: Any, settings: Any) -> None:
    import asyncio

    from asgiref.sync import async_to_sync

    from orchestrator_site.web.throttling import throttle_hit_async

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"route_llm_anon": "50/min"}}

    async def burst(ident: str) -> list[float | None]:
        return await asyncio.gather(
            *(throttle_hit_async(scope="route_llm_anon", ident=ident, now=600.0) for _ in range(200))
        )

    async def two_clients() -> tuple[list[float | None], list[float | None]]:
        # Hits on two counters in the same loop ticks: coalesced per counter, counted apart.
        return await asyncio.gather(burst("anon:1.2.3.4"), burst("anon:5.6.7.8"))

    for verdicts in async_to_sync(two_clients)():
        assert verdicts[:50] == [None] * 50  # arrival order is kept: the first 50 get in
        assert all(v == pytest.approx(60) for v in verdicts[50:])


def test_an_unreachable_redis_lets_requests_through_and_warns(settings: Any, caplog: Any) -> None:
    """Fail open: a Redis outage must not take the API down with it."""
    import socket

    from asgiref.sync import async_to_sync

    from orchestrator_site.web.throttling import throttle_hit_async

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{dead_port}/0",
        }
    }
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"request_user": "1/min"}}
    with caplog.at_level("WARNING", logger="orchestrator_site.web.redis_throttle"):
        for _ in range(3):
            assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:1", now=60.0) is None
    warnings = [r for r in caplog.records if "not enforced" in r.getMessage()]
    assert len(warnings) == 1  # once a minute, not once a request


def test_a_hung_redis_costs_one_timeout_then_rests(settings: Any) -> None:
    """A Redis that accepts and never answers: the first hit waits out the timeout and passes;
    for the next few seconds hits pass without asking it (no new connection, no wait)."""
    import socket
    import threading

    from asgiref.sync import async_to_sync

    from orchestrator_site.web import redis_throttle
    from orchestrator_site.web.throttling import throttle_hit_async

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{listener.getsockname()[1]}/0",
        }
    }
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"request_user": "1/min"}}
    try:
        assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:1", now=60.0) is None
        assert len(accepted) == 1 and redis_throttle._redis_resting()
        for _ in range(20):
            assert async_to_sync(throttle_hit_async)(scope="request_user", ident="user:1", now=60.0) is None
        assert len(accepted) == 1  # nobody asked the hung server again
    finally:
        listener.close()
        for conn in accepted:
            conn.close()
