"""Pytest fixtures for end-to-end tests (registered in tests/conftest.py).

``system_factory()`` builds and starts a System (tests/support/system.py) and
stops it after the test, whatever happens; ``module_system_factory`` does the
same once per module for tests that can share one system. ``private_redis``
is a redis-server of the test's own (the Redis tests and the end-to-end ones).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.redis.server import PrivateRedis
from tests.support.system import System


def _factory() -> Iterator[Callable[..., System]]:
    systems: list[System] = []

    def make(*, start: bool = True, **kwargs: Any) -> System:
        system = System(**kwargs)
        systems.append(system)
        if start:
            system.start()
        return system

    try:
        yield make
    finally:
        for system in systems:
            system.stop()


@pytest.fixture
def system_factory() -> Iterator[Callable[..., System]]:
    yield from _factory()


@pytest.fixture(scope="module")
def module_system_factory() -> Iterator[Callable[..., System]]:
    yield from _factory()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A redis-server of the test's own, on a free port, which the test may kill and restart."""
    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.cleanup()
