"""Fixtures of the end-to-end Redis tests (the harness itself, system_factory, is tests/support/fixtures.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.e2e.redis_helpers import delete_prefix
from tests.support.system import System


@pytest.fixture
def redis_system(system_factory: Callable[..., System]) -> Iterator[Callable[..., System]]:
    """system_factory without the monitor loop; the keys under each system's Redis prefix are deleted after."""
    systems: list[System] = []

    def make(**kwargs: Any) -> System:
        kwargs.setdefault("orchestrator_args", ("--no-monitor",))
        system = system_factory(**kwargs)
        systems.append(system)
        return system

    yield make
    for system in systems:
        delete_prefix(system)
