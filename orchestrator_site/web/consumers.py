"""The /ws/ consumer: request frames in, response frames out by id, plus events.

Client frames (one JSON object per WebSocket message):

* a request envelope (``{"id", "agent", "action", "data", ...}``, optionally
  ``"type": "request"``) -> its response frame, same id; many may be in flight
* ``{"type": "auth", "token": "<key>"}`` -> ``{"type": "authenticated", ...}``
* ``{"type": "subscribe", "events": ["agent_connected", ...]}`` (omit
  ``events`` for all) -> ``{"type": "subscribed"}``, then event frames
  ``{"type": "event", "event": ..., "timestamp": ..., ...}``
* ``{"type": "unsubscribe"}`` -> ``{"type": "unsubscribed"}``
* ``{"type": "ping"}`` -> ``{"type": "pong"}``

Anything malformed gets an error frame and the socket stays open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs

import orjson
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from orchestrator_site.web import webmetrics
from orchestrator_site.web.agent_requests import request_admit, request_execute, request_refused
from orchestrator_site.web.events import EVENTS_GROUP, relay
from orchestrator_site.web.principals import (
    AuthenticationFailed,
    Principal,
    client_ip_of,
    principal_for_token,
    token_from_headers,
)

logger = logging.getLogger(__name__)

CLOSE_UNAUTHORIZED = 4401
_SEEN_EVENTS = 512  # recent event ids kept to drop copies from several relays
_MAX_EVENT_FILTER = 100


class AgentSocketConsumer(AsyncWebsocketConsumer):
    # --- connection lifecycle ------------------------------------------------------
    async def connect(self) -> None:
        self.principal = Principal.anonymous(client_ip_of(self.scope))
        self.tasks: set[asyncio.Task[None]] = set()
        self.subscription: frozenset[str] | None = None  # None: not subscribed; empty: every event
        self.seen: OrderedDict[str, None] = OrderedDict()
        self.auth_timer: asyncio.Task[None] | None = None
        await self.accept()
        webmetrics.WS_CONNECTIONS.inc()
        self.counted = True
        try:
            token = self._token_from_scope()
            if token is not None:
                self.principal = await principal_for_token(token, client_ip=self.principal.client_ip)
            else:
                self.principal = Principal.from_user(self.scope.get("user"), self.principal.client_ip)
        except AuthenticationFailed as exc:
            await self.send_frame(protocol.error(None, ErrorCode.UNAUTHORIZED, str(exc)))
            await self.close(code=CLOSE_UNAUTHORIZED)
            return
        if not self._may_proceed():
            # No credentials yet: the first frames may carry a token.
            self.auth_timer = asyncio.ensure_future(self._auth_expiry(settings.WEB["WS_AUTH_TIMEOUT_S"]))

    async def disconnect(self, code: int) -> None:
        tasks = list(getattr(self, "tasks", ()))
        if getattr(self, "auth_timer", None) is not None:
            tasks.append(self.auth_timer)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._unsubscribe()
        if getattr(self, "counted", False):
            webmetrics.WS_CONNECTIONS.dec()
            self.counted = False

    def _token_from_scope(self) -> str | None:
        token = token_from_headers(self.scope.get("headers", ()))
        if token is None:
            values = parse_qs(self.scope.get("query_string", b"").decode("latin1")).get("token")
            if values:
                token = values[0]
        return token

    def _may_proceed(self) -> bool:
        return self.principal.is_authenticated or settings.WEB["REQUEST_ANONYMOUS"]

    async def _auth_expiry(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
        if not self._may_proceed():
            await self.send_frame(protocol.error(None, ErrorCode.UNAUTHORIZED, "No credentials in time"))
            await self.close(code=CLOSE_UNAUTHORIZED)

    # --- incoming frames ------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else (bytes_data or b"")
        started = time.perf_counter()
        try:
            max_bytes = settings.ORCHESTRATOR["MAX_FRAME_BYTES"]
            if len(raw) > max_bytes:
                head = raw[: protocol.OVERSIZED_HEAD_BYTES]
                rid = protocol.id_from_head(head.encode() if isinstance(head, str) else head)
                await self.send_frame(protocol.too_large_error(len(raw), max_bytes).to_frame(rid))
                return
            frame = protocol.decode(raw)
        except ProtocolError as exc:
            await self.send_frame(exc.to_frame(None))
            return
        kind = frame.get("type")
        handler = _CONTROL.get(kind) if isinstance(kind, str) else None
        if handler is not None:
            await handler(self, frame)
        elif kind is None or kind == "request":
            await self._request(frame, started)
        else:
            await self.send_frame(
                protocol.error(
                    protocol.request_id_of(frame),
                    ErrorCode.INVALID_REQUEST,
                    f"Unknown frame type {str(kind)[:40]!r}",
                    {"types": ["request", *sorted(_CONTROL)]},
                )
            )

    async def _request(self, frame: dict[str, Any], started: float) -> None:
        rid = protocol.request_id_of(frame)
        rid = rid if isinstance(rid, (str, int)) else None
        refusal: ProtocolError | None
        if not self._may_proceed():
            refusal = ProtocolError(ErrorCode.UNAUTHORIZED, 'Authenticate first: {"type": "auth", "token": ...}')
        elif len(self.tasks) >= settings.WEB["WS_MAX_INFLIGHT"]:
            refusal = ProtocolError(
                ErrorCode.OVERLOADED,
                "Too many requests in flight on this connection",
                {"max_inflight": settings.WEB["WS_MAX_INFLIGHT"]},
            )
        else:
            refusal = await request_admit(principal=self.principal)
        if refusal is not None:
            await self.send_frame(request_refused(refusal, transport="ws", started=started, request_id=rid))
            return
        task = asyncio.ensure_future(self._forward(frame, started))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _forward(self, frame: dict[str, Any], started: float) -> None:
        reply = await request_execute(raw=frame, principal=self.principal, transport="ws", started=started)
        await self.send_frame(reply)

    # --- control frames ---------------------------------------------------------------
    async def _on_auth(self, frame: dict[str, Any]) -> None:
        token = frame.get("token")
        if not isinstance(token, str) or not token or len(token) > 200:
            await self.send_frame(
                protocol.error(frame.get("id"), ErrorCode.INVALID_REQUEST, "'token' must be a non-empty string")
            )
            return
        try:
            self.principal = await principal_for_token(token, client_ip=self.principal.client_ip)
        except AuthenticationFailed as exc:
            await self.send_frame(protocol.error(frame.get("id"), ErrorCode.UNAUTHORIZED, str(exc)))
            return
        if self.auth_timer is not None:
            self.auth_timer.cancel()
            self.auth_timer = None
        await self.send_frame(
            {
                "type": "authenticated",
                "id": frame.get("id"),
                "user": self.principal.username,
                "staff": self.principal.is_staff,
            }
        )

    async def _on_subscribe(self, frame: dict[str, Any]) -> None:
        if not self._may_proceed():
            await self.send_frame(protocol.error(frame.get("id"), ErrorCode.UNAUTHORIZED, "Authenticate first"))
            return
        events = frame.get("events")
        if events is not None and (
            not isinstance(events, list)
            or len(events) > _MAX_EVENT_FILTER
            or not all(isinstance(e, str) and 0 < len(e) <= 100 for e in events)
        ):
            await self.send_frame(
                protocol.error(frame.get("id"), ErrorCode.INVALID_REQUEST, "'events' must be a list of event names")
            )
            return
        names = frozenset(e for e in (events or []) if e != "*")
        if self.subscription is None:
            await self.channel_layer.group_add(EVENTS_GROUP, self.channel_name)
            relay.acquire()
            webmetrics.WS_SUBSCRIBERS.inc()
        self.subscription = names
        await self.send_frame({"type": "subscribed", "id": frame.get("id"), "events": sorted(names) or ["*"]})

    async def _on_unsubscribe(self, frame: dict[str, Any]) -> None:
        await self._unsubscribe()
        await self.send_frame({"type": "unsubscribed", "id": frame.get("id")})

    async def _on_ping(self, frame: dict[str, Any]) -> None:
        await self.send_frame({"type": "pong", "id": frame.get("id")} if "id" in frame else protocol.PONG)

    async def _unsubscribe(self) -> None:
        if getattr(self, "subscription", None) is None:
            return
        self.subscription = None
        webmetrics.WS_SUBSCRIBERS.dec()
        await self.channel_layer.group_discard(EVENTS_GROUP, self.channel_name)
        await relay.release()

    # --- channel layer -----------------------------------------------------------------
    async def orchestrator_event(self, message: dict[str, Any]) -> None:
        """An event relayed by some web process (see events.py)."""
        if self.subscription is None:
            return
        eid = message.get("event_id", "")
        if eid in self.seen:
            return
        self.seen[eid] = None
        if len(self.seen) > _SEEN_EVENTS:
            self.seen.popitem(last=False)
        frame = message.get("frame") or {}
        if self.subscription and frame.get("event") not in self.subscription:
            return
        await self.send_frame(frame)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=orjson.dumps(frame, default=str).decode())


_CONTROL = {
    "auth": AgentSocketConsumer._on_auth,
    "subscribe": AgentSocketConsumer._on_subscribe,
    "unsubscribe": AgentSocketConsumer._on_unsubscribe,
    "ping": AgentSocketConsumer._on_ping,
}
