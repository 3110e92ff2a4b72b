"""One agent request from the web side, shared by POST /api/request (fast
path and DRF view) and the /ws/ consumer, so every entry applies the same
checks in the same order:

    authenticate (caller's job) -> admit (anonymous policy, rate limit)
    -> parse and validate the envelope -> authorize the action -> forward,

each outcome recorded in the metrics. ``request_answer`` is that whole
sequence for one HTTP request (both shells of POST /api/request); the
WebSocket runs its steps itself, since it admits before it hands a request
to a task of its own.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from orchestrator_site.web import webmetrics
from orchestrator_site.web.admission import rate_limit
from orchestrator_site.web.gateway import gateway
from orchestrator_site.web.principals import Principal

# Actions that would turn the shared orchestrator connection into an event
# feed; clients subscribe through the WebSocket instead.
_NOT_FORWARDED = {("orchestrator", "subscribe")}


async def request_admit(*, principal: Principal) -> ProtocolError | None:
    """Anonymous policy and rate limit: an error to answer with, or None."""
    if not principal.is_authenticated and not settings.WEB["REQUEST_ANONYMOUS"]:
        return ProtocolError(
            ErrorCode.UNAUTHORIZED,
            "Authentication credentials were not provided",
            {"hint": "send 'Authorization: Token <key>'"},
        )
    return await rate_limit(principal=principal, user_scope="request_user", anon_scope="request_anon")


def request_too_large(max_bytes: int) -> ProtocolError:
    return ProtocolError(
        ErrorCode.MESSAGE_TOO_LARGE, f"Request larger than {max_bytes} bytes", {"max_bytes": max_bytes}
    )


def request_parse(raw: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Bytes/str/dict -> a normalized request; ProtocolError on bad input."""
    max_bytes = settings.ORCHESTRATOR["MAX_FRAME_BYTES"]
    if isinstance(raw, (bytes, str)):
        if len(raw) > max_bytes:
            raise request_too_large(max_bytes)
        raw = protocol.decode(raw)
    return protocol.normalize_request(raw)


def request_authorize(*, request: dict[str, Any], principal: Principal) -> None:
    agent, action = request["agent"], request["action"]
    if (agent, action) in _NOT_FORWARDED:
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST,
            "Subscribe to events through the WebSocket (/ws/)",
            {"agent": agent, "action": action},
        )
    if f"{agent}.{action}" in settings.WEB["STAFF_ONLY_ACTIONS"] and not principal.is_staff:
        raise ProtocolError(
            ErrorCode.FORBIDDEN, f"'{agent}.{action}' needs a staff account", {"agent": agent, "action": action}
        )


async def request_execute(
    *, raw: bytes | str | dict[str, Any], principal: Principal, transport: str, started: float | None = None
) -> dict[str, Any]:
    """Parse, authorize and forward one admitted request; the response frame (never raises)."""
    started = time.perf_counter() if started is None else started
    agent = action = None
    rid = raw.get("id", raw.get("request_id")) if isinstance(raw, dict) else None
    try:
        request = request_parse(raw)
        rid, agent, action = request["id"], request["agent"], request["action"]
        request_authorize(request=request, principal=principal)
        if principal.username and "interface" not in request:
            request["interface"] = f"web:{principal.username}"[:100]
        frame = await gateway.send(request)
    except ProtocolError as exc:
        frame = exc.to_frame(rid if isinstance(rid, (str, int)) else None)
    request_record(agent=agent, action=action, transport=transport, frame=frame, started=started)
    return frame


async def request_answer(
    *,
    principal: Principal,
    read_body: Callable[[], Awaitable[bytes]],
    transport: str = "http",
    started: float | None = None,
) -> dict[str, Any]:
    """admit -> read the body -> execute -> record: the response frame of one HTTP request.

    The body is read only once the caller is admitted; ``read_body`` may raise the ProtocolError that
    answers instead (MESSAGE_TOO_LARGE), or ConnectionResetError when the client left (nobody to answer).
    """
    started = time.perf_counter() if started is None else started
    refusal = await request_admit(principal=principal)
    if refusal is not None:
        return request_refused(refusal, transport=transport, started=started)
    try:
        raw = await read_body()
    except ProtocolError as exc:
        return request_refused(exc, transport=transport, started=started)
    return await request_execute(raw=raw, principal=principal, transport=transport, started=started)


def request_refused(
    refusal: ProtocolError, *, transport: str, started: float, request_id: Any = None
) -> dict[str, Any]:
    """The frame of a request refused before it was parsed (authentication, admission, size), recorded."""
    frame = refusal.to_frame(request_id)
    request_record(agent=None, action=None, transport=transport, frame=frame, started=started)
    return frame


def request_record(
    *, agent: str | None, action: str | None, transport: str, frame: dict[str, Any], started: float
) -> None:
    err = frame.get("error") if frame.get("status") == "error" else None
    outcome = str(err.get("code")) if isinstance(err, dict) else "success"
    webmetrics.request_observe(
        agent=agent, action=action, transport=transport, outcome=outcome, seconds=time.perf_counter() - started
    )
