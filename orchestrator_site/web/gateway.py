"""The web process's small pool of connections to the orchestrator's client socket.

Every HTTP request and WebSocket frame of this process is multiplexed over a
few ``agents.client.AsyncClient`` connections (many requests in flight on
each, matched by id; each re-opens itself after it drops), instead of a
connect per request. Several connections rather than one, so that one broken
connection fails only the requests in flight on it, not everyone's: a request
goes to the connection with the fewest requests in flight.

One pool per event loop: Daphne runs one loop per process; tests run a loop
per test, and a client must never be used from a loop it was not created on.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from pathlib import Path
from typing import Any

from django.conf import settings

from agents import protocol
from agents.protocol import ErrorCode
from orchestrator_common.paths import socket_path
from orchestrator_site.web import webmetrics

logger = logging.getLogger(__name__)


def client_socket_path() -> Path:
    return socket_path("client", settings.ORCHESTRATOR["SOCKET_DIR"])


class Gateway:
    def __init__(self) -> None:
        self._clients: list[Any] = []
        # (loop, socket dir) the pool belongs to; a weak reference so a
        # closed test loop is never mistaken for a live one with a reused id.
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._socket_dir: object = None
        self._lock: asyncio.Lock | None = None
        self.connects = 0

    @property
    def clients(self) -> list[Any]:
        """The pool's clients on this loop (for tests and metrics)."""
        return list(self._clients)

    async def _get_client(self) -> Any:
        clients = self._clients
        if (
            clients
            and self._loop is not None
            and self._loop() is asyncio.get_running_loop()
            and settings.ORCHESTRATOR["SOCKET_DIR"] is self._socket_dir
        ):
            # The hot path: the least busy of a few connections.
            return min(clients, key=_inflight) if len(clients) > 1 else clients[0]
        await self._open_pool()
        return self._clients[0]

    async def _open_pool(self) -> None:
        loop = asyncio.get_running_loop()
        socket_dir = settings.ORCHESTRATOR["SOCKET_DIR"]
        if self._loop is None or self._loop() is not loop or socket_dir is not self._socket_dir:
            # Another loop (a test) or socket dir: the old clients are unusable here.
            self._clients, self._lock = [], asyncio.Lock()
            self._loop, self._socket_dir = weakref.ref(loop), socket_dir
        assert self._lock is not None
        async with self._lock:
            if self._clients:
                return
            from agents.client import AsyncClient

            path = str(client_socket_path())
            size = int(settings.WEB.get("ORCHESTRATOR_CONNECTIONS", 4))
            max_bytes = settings.ORCHESTRATOR["MAX_FRAME_BYTES"]
            clients = []
            try:
                for _ in range(size):
                    clients.append(await AsyncClient.connect(socket_path=path, max_frame_bytes=max_bytes))
            except BaseException:
                await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
                raise
            self._clients = clients
            self.connects += len(clients)
            webmetrics.GATEWAY_CONNECTS.inc(len(clients))

    async def send(self, request: dict[str, Any]) -> dict[str, Any]:
        """Forward a normalized request; return its response frame. Never raises (except CancelledError and
        ProtocolError for a request that cannot be sent): failures become AGENT_UNAVAILABLE / TIMEOUT frames."""
        rid = request.get("id")
        timeout_ms = request.get("timeout_ms") or settings.ORCHESTRATOR["REQUEST_TIMEOUT_MS"]
        try:
            client = await self._get_client()
        except (OSError, ConnectionError) as exc:
            return protocol.error(
                rid, ErrorCode.AGENT_UNAVAILABLE, "The orchestrator is not reachable", {"reason": type(exc).__name__}
            )
        try:
            # No wait_for of our own (a task per request): the client gives up
            # by itself a grace period after the request's timeout.
            return await client.send(request)
        except TimeoutError:  # the client's ClientTimeout: the orchestrator never answered
            return protocol.error(
                rid,
                ErrorCode.TIMEOUT,
                f"No answer from the orchestrator within {timeout_ms} ms",
                {"timeout_ms": timeout_ms},
            )
        except (OSError, ConnectionError, EOFError) as exc:
            # The connection dropped with this request in flight. We do not resend it: the agent may already
            # have acted on it. The client re-opens its connection on the next request by itself.
            return protocol.error(
                rid,
                ErrorCode.AGENT_UNAVAILABLE,
                "The connection to the orchestrator was lost",
                {"reason": type(exc).__name__},
            )

    async def request(
        self, agent: str, action: str, data: dict[str, Any] | None = None, *, timeout_ms: float | None = None
    ) -> dict[str, Any]:
        frame: dict[str, Any] = {"id": protocol.new_request_id(), "agent": agent, "action": action, "data": data or {}}
        if timeout_ms is not None:
            frame["timeout_ms"] = timeout_ms
        return await self.send(frame)

    async def close(self) -> None:
        clients, self._clients, self._loop = self._clients, [], None
        for client in clients:
            try:
                await client.close()
            except Exception:  # already broken; closing is best effort
                logger.debug("closing an orchestrator client failed", exc_info=True)


def _inflight(client: Any) -> int:
    return client.inflight


gateway = Gateway()
