"""Pytest fixtures for end-to-end tests (registered in tests/conftest.py).

``system_factory()`` builds and starts a System (tests/support/system.py) and
stops it after the test, whatever happens; ``module_system_factory`` does the
same once per module for tests that can share one system.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

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
