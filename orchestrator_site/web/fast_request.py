"""POST /api/request without Django's middleware: a plain ASGI handler.

Django's request path costs ~26 thread hops per request (one per sync
middleware hook and signal); this handler runs the same sequence as the DRF
view (``agent_requests.request_answer``: admission, envelope validation,
forwarding over the process's one orchestrator connection) on the event loop,
with the token resolved here (resolved tokens are cached for a few seconds).

Requests that carry a session cookie and no token go to Django instead: a
session-authenticated POST needs the CSRF check, which the DRF view does.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from django.conf import settings

from agents.protocol import ErrorCode, ProtocolError
from orchestrator_site.fast_http import BodyTooLarge, FastHttpDispatcher, Receive, read_body
from orchestrator_site.web.admission import principal_from_scope, token_or_no_session
from orchestrator_site.web.agent_requests import request_answer, request_refused, request_too_large
from orchestrator_site.web.envelope_responses import send_envelope
from orchestrator_site.web.principals import AuthenticationFailed

PATH = "/api/request"


async def _bounded_body(receive: Receive) -> bytes:
    limit = settings.ORCHESTRATOR["MAX_FRAME_BYTES"]
    try:
        return await read_body(receive, max_bytes=limit)
    except BodyTooLarge:
        raise request_too_large(limit) from None


async def handle_request(scope: dict[str, Any], receive: Receive, send: Callable[..., Awaitable[Any]]) -> None:
    """The ASGI handler for POST /api/request (registered for requests that pass token_or_no_session)."""
    started = time.perf_counter()
    try:
        principal = await principal_from_scope(scope)
    except AuthenticationFailed as exc:
        frame = request_refused(ProtocolError(ErrorCode.UNAUTHORIZED, str(exc)), transport="http", started=started)
    else:
        try:
            frame = await request_answer(
                principal=principal, read_body=partial(_bounded_body, receive), started=started
            )
        except ConnectionResetError:
            return  # nobody to answer
    await send_envelope(send, frame)


def register_fast_paths(dispatcher: FastHttpDispatcher) -> None:
    """Register POST /api/request with the shared ``FastHttpDispatcher`` (asgi.py).

    Requests with a session cookie and no token are passed on to Django, where
    the DRF view runs the CSRF check a session-authenticated POST needs.
    """
    dispatcher.register(PATH, handle_request, methods=("POST",), when=token_or_no_session)
