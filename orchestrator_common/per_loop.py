"""One object per running event loop, made on first use and dropped with its loop.

asyncio objects (futures, sessions, timers) belong to one loop; a process normally has one, but tests and the
management commands start and end several, and an object of an ended loop must not be reused.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    """``get()`` is this loop's ``T``: ``make(loop)`` the first time, and again whenever ``stale(value)``."""

    def __init__(
        self, make: Callable[[asyncio.AbstractEventLoop], T], *, stale: Callable[[T], bool] | None = None
    ) -> None:
        self._make, self._stale = make, stale
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = weakref.WeakKeyDictionary()

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        value = self._values.get(loop)
        if value is None or (self._stale is not None and self._stale(value)):
            value = self._values[loop] = self._make(loop)
        return value
