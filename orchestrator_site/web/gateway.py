"""The web process's one connection to the orchestrator's client socket.

Every HTTP request and WebSocket frame of this process is multiplexed over a
single ``agents.client.AsyncClient`` (many requests in flight, matched by id),
opened on first use and reopened after it drops, instead of a connect per
request. One client per event loop: Daphne runs one loop per process; tests
run a loop per test, and a client must never be used from a loop it was not
created on.
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
from orchestrator_site.web import webmetrics

logger = logging.getLogger(__name__)


def client_socket_path() -> Path:
    return Path(settings.ORCHESTRATOR["SOCKET_DIR"]) / "orchestrator.sock"


class Gateway:
    def __init__(self) -> None:
        self._client: Any = None
        # (loop, socket path) the client belongs to; a weak reference so a
        # closed test loop is never mistaken for a live one with a reused id.
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._path = ""
        self._socket_dir: object = None
        self._lock: asyncio.Lock | None = None
        self.connects = 0

    async def _get_client(self) -> Any:
        loop = asyncio.get_running_loop()
        socket_dir = settings.ORCHESTRATOR["SOCKET_DIR"]
        if self._client is not None and self._loop is not None and self._loop() is loop \
                and socket_dir is self._socket_dir:
            return self._client  # the hot path: no path building per request
        path = str(client_socket_path())
        self._socket_dir = socket_dir
        same = self._loop is not None and self._loop() is loop and self._path == path
        if self._client is not None and same:
            return self._client
        if not same:
            # Another loop (a test) or socket dir: the old client is unusable here.
            self._client, self._lock = None, asyncio.Lock()
            self._loop, self._path = weakref.ref(loop), path
        assert self._lock is not None
        async with self._lock:
            if self._client is None:
                from agents.client import AsyncClient

                self._client = await AsyncClient.connect(socket_path=path)
                self.connects += 1
                webmetrics.GATEWAY_CONNECTS.inc()
        return self._client

    async def _drop(self, client: Any) -> None:
        if self._client is client:
            self._client = None
        try:
            await client.close()
        except Exception:  # already broken; closing is best effort
            logger.debug("closing a broken orchestrator client failed", exc_info=True)

    async def send(self, request: dict[str, Any]) -> dict[str, Any]:
        """Forward a normalized request; return its response frame. Never raises
        (except CancelledError): failures become AGENT_UNAVAILABLE / TIMEOUT frames."""
        rid = request.get("id")
        timeout_ms = request.get("timeout_ms") or settings.ORCHESTRATOR["REQUEST_TIMEOUT_MS"]
        try:
            client = await self._get_client()
        except (OSError, ConnectionError) as exc:
            return protocol.error(rid, ErrorCode.AGENT_UNAVAILABLE, "The orchestrator is not reachable",
                                  {"reason": type(exc).__name__})
        try:
            # No wait_for of our own (a task per request): the client gives up
            # by itself a grace period after the request's timeout.
            return await client.send(request)
        except asyncio.TimeoutError:  # the client's ClientTimeout: the orchestrator never answered
            return protocol.error(rid, ErrorCode.TIMEOUT, f"No answer within {timeout_ms} ms",
                                  {"timeout_ms": timeout_ms})
        except (OSError, ConnectionError, EOFError) as exc:
            # The connection dropped with this request in flight. We do not
            # resend it: the agent may already have acted on it.
            await self._drop(client)
            return protocol.error(rid, ErrorCode.AGENT_UNAVAILABLE, "The connection to the orchestrator was lost",
                                  {"reason": type(exc).__name__})

    async def request(self, agent: str, action: str, data: dict[str, Any] | None = None, *,
                      timeout_ms: float | None = None) -> dict[str, Any]:
        frame: dict[str, Any] = {"id": protocol.new_request_id(), "agent": agent, "action": action,
                                 "data": data or {}}
        if timeout_ms is not None:
            frame["timeout_ms"] = timeout_ms
        return await self.send(frame)

    async def close(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await self._drop(client)


gateway = Gateway()
