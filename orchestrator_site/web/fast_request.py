"""POST /api/request without Django's middleware: a plain ASGI handler.

Django's request path costs ~26 thread hops per request (one per sync
middleware hook and signal); this handler does the same checks as the DRF
view (``agent_requests``) on the event loop: token auth (resolved tokens are
cached for a few seconds), rate limit, envelope validation, forwarding over
the process's one orchestrator connection.

Requests that carry a session cookie and no token go to Django instead: a
session-authenticated POST needs the CSRF check, which the DRF view does.
"""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from django.conf import settings

from agents.protocol import ErrorCode, ProtocolError
from orchestrator_site.web.admission import principal_from_scope, token_or_no_session
from orchestrator_site.web.agent_requests import request_admit, request_execute, request_record
from orchestrator_site.web.principals import AuthenticationFailed
from orchestrator_site.web.status_codes import http_status_for

PATH = "/api/request"


async def _read_body(receive: Callable[..., Awaitable[Any]], limit: int) -> bytes | None:
    """The whole body, or None when it grows past ``limit`` (we stop reading)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("the client left before sending its body")
        body = message.get("body", b"")
        size += len(body)
        if size > limit:
            return None
        chunks.append(body)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def respond(send: Callable[..., Awaitable[Any]], frame: dict[str, Any]) -> int:
    status = http_status_for(frame)
    body = orjson.dumps(frame, default=str)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Token realm="api"'))
    elif status == 429:
        wait = (frame.get("error") or {}).get("details", {}).get("retry_after_s", 1)
        headers.append((b"retry-after", str(max(1, int(wait + 0.999))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


async def handle_request(scope: dict[str, Any], receive: Callable[..., Awaitable[Any]],
                         send: Callable[..., Awaitable[Any]]) -> None:
    """The ASGI handler for POST /api/request (registered for requests that pass token_or_no_session)."""
    started = time.perf_counter()
    frame: dict[str, Any]
    try:
        principal = await principal_from_scope(scope)
    except AuthenticationFailed as exc:
        frame = ProtocolError(ErrorCode.UNAUTHORIZED, str(exc)).to_frame(None)
        request_record(agent=None, action=None, transport="http", frame=frame, started=started)
        await respond(send, frame)
        return
    refusal = await request_admit(principal=principal)
    if refusal is not None:
        frame = refusal.to_frame(None)
        request_record(agent=None, action=None, transport="http", frame=frame, started=started)
        await respond(send, frame)
        return
    limit = settings.ORCHESTRATOR["MAX_FRAME_BYTES"]
    try:
        body = await _read_body(receive, limit)
    except ConnectionResetError:
        return  # nobody to answer
    if body is None:
        frame = ProtocolError(ErrorCode.MESSAGE_TOO_LARGE, f"Request larger than {limit} bytes",
                              {"max_bytes": limit}).to_frame(None)
        request_record(agent=None, action=None, transport="http", frame=frame, started=started)
    else:
        frame = await request_execute(raw=body, principal=principal, transport="http", started=started)
    await respond(send, frame)


def register_fast_paths(dispatcher: Any) -> None:
    """Register POST /api/request with the shared ``FastHttpDispatcher`` (asgi.py).

    Requests with a session cookie and no token are passed on to Django, where
    the DRF view runs the CSRF check a session-authenticated POST needs.
    """
    dispatcher.register(PATH, handle_request, methods=("POST",), when=token_or_no_session)
