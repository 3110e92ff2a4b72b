"""Fixtures for the web tests: one real orchestrator system for the package,
users with API tokens, and helpers to drive the real ASGI application.

Tests are plain functions that run their async body with ``async_to_sync``
from the test's own thread, so ORM calls made by the app
(``database_sync_to_async``, sync DRF views) come back to that thread and see
the test's transaction.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from orchestrator_site.web import principals
from tests.support.system import System


def run_async(fn: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    """Turn an ``async def`` test into a sync one (pytest-django's DB fixtures are sync)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return async_to_sync(fn)(*args, **kwargs)

    return wrapper


def clear_local_cache() -> None:
    """Reset rate-limit counters, but only in a local-memory cache: clear() on
    a RedisCache is FLUSHDB on a Redis that other test runs share."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture(scope="session")
def web_system() -> Iterator[System]:
    """Orchestrator + a probe agent + the naming agent, shared by the web tests."""
    system = System()
    try:
        system.start()
        system.start_agent("probe", "WEB-PROBE-1")
        system.start_agent("naming", "WEB-NAMING-1")
        yield system
    finally:
        system.stop()


@pytest.fixture(autouse=True)
def _web_isolation(settings: Any) -> Iterator[None]:
    # A fresh in-memory channel layer and token cache per test: both hold
    # state bound to the previous test's event loop or users.
    channel_layers.backends.clear()
    principals.token_cache_clear()
    clear_local_cache()
    yield
    channel_layers.backends.clear()
    principals.token_cache_clear()


@pytest.fixture
def orchestrator(web_system: System, settings: Any) -> System:
    """Point this process's gateway at the shared system's orchestrator."""
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": web_system.socket_dir}
    return web_system


@pytest.fixture
def no_orchestrator(settings: Any) -> str:
    """A socket directory where nothing listens."""
    path = tempfile.mkdtemp(prefix="orch-none-", dir="/tmp")
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": path}
    return path


class Caller:
    def __init__(self, user: Any, token: str | None) -> None:
        self.user = user
        self.token = token

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"} if self.token else {}

    @property
    def ws_headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"authorization", f"Token {self.token}".encode())] if self.token else []


@pytest.fixture
def member(transactional_db: Any) -> Caller:
    user = get_user_model().objects.create_user("member")
    return Caller(user, Token.objects.create(user=user).key)


@pytest.fixture
def staff(transactional_db: Any) -> Caller:
    user = get_user_model().objects.create_user("boss", is_staff=True)
    return Caller(user, Token.objects.create(user=user).key)


@pytest.fixture
def anonymous(transactional_db: Any) -> Caller:
    return Caller(None, None)


def asgi_client() -> httpx.AsyncClient:
    """An HTTP client bound to the real ASGI application (fast paths included)."""
    from orchestrator_site.asgi import application

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application, client=("127.0.0.9", 5555)), base_url="http://localhost"
    )
