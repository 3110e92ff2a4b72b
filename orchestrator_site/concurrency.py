"""A bound on the Django requests one web process runs at once.

Under ASGI, Django runs each request's sync code (views, DRF, the ORM) on a
thread of its own, and each such thread opens its own database connection: N
concurrent requests are N connections, and past PostgreSQL's
``max_connections`` every further request fails with "too many clients".
``ConcurrencyLimit`` lets at most ``WEB["DJANGO_CONCURRENCY"]`` requests into
Django at a time; the others wait their turn on the event loop (Daphne has
read their bodies already, so a waiting request holds no thread and no
connection). With ``CONN_MAX_AGE`` 0 under ASGI (settings.py) each request
closes its connection when it ends, so the web process holds at most that many
connections plus its fast paths' few worker threads.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

ASGIApp = Callable[[dict[str, Any], Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]]], Awaitable[None]]


class ConcurrencyLimit:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # One semaphore per event loop (Daphne runs one; tests run one per test).
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._slots: asyncio.Semaphore | None = None

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is None or self._loop() is not loop:
            self._slots = asyncio.Semaphore(int(settings.WEB["DJANGO_CONCURRENCY"]))
            self._loop = weakref.ref(loop)
        return self._slots

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]], send: Callable[..., Awaitable[Any]]
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async with self._semaphore():
            await self.app(scope, receive, send)
