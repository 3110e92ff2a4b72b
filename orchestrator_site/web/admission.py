"""Admission: who is calling (token or anonymous) and whether they may come in, before any body is read.

One admission per endpoint, each used by every shell of it: ``request_admit``
(agent_requests.py) by POST /api/request's fast path and DRF view and by the
WebSocket; ``route_llm_admit`` here by POST /api/route-llm's fast path and DRF
view. The shells only find the principal: a fast path from the ASGI scope
(``principal_from_scope``), a DRF view from DRF's authentication
(``Principal.from_user``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from agents.protocol import ErrorCode, ProtocolError
from llmrouter import conf
from orchestrator_site.web.principals import (
    Principal,
    client_ip_of,
    principal_for_token,
    token_from_headers,
)
from orchestrator_site.web.throttling import throttle_hit_async

ROUTE_NEEDS_LOGIN = "Routing needs an authenticated caller (LLMROUTER_ROUTE_ALLOW_ANONYMOUS is off)."


def token_or_no_session(scope: dict[str, Any]) -> bool:
    """Whether a fast path may serve this request: it carries a token, or no session cookie.

    A session-authenticated POST needs Django's CSRF check, which the DRF views
    do; those requests go to Django.
    """
    has_token = has_session = False
    cookie_name = settings.SESSION_COOKIE_NAME.encode()
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            has_token = True
        elif name == b"cookie" and cookie_name + b"=" in value:
            has_session = True
    return has_token or not has_session


async def principal_from_scope(scope: dict[str, Any]) -> Principal:
    """The token's user, or anonymous without an Authorization header; AuthenticationFailed for a bad one."""
    client_ip = client_ip_of(scope)
    token = token_from_headers(scope.get("headers", ()))
    if token is None:
        return Principal.anonymous(client_ip)
    return await principal_for_token(token, client_ip=client_ip)


async def rate_limit(*, principal: Principal, user_scope: str, anon_scope: str) -> ProtocolError | None:
    scope = user_scope if principal.is_authenticated else anon_scope
    wait = await throttle_hit_async(scope=scope, ident=principal.throttle_ident)
    if wait is None:
        return None
    return ProtocolError(
        ErrorCode.RATE_LIMITED, "Request was throttled", {"retry_after_s": round(wait, 3), "scope": scope}
    )


def route_caller_refusal(principal: Principal) -> ProtocolError | None:
    """The router's anonymous policy (POST /api/route-llm and its usage report): 401 for a caller
    without a token when LLMROUTER_ROUTE_ALLOW_ANONYMOUS is off, else None."""
    if principal.is_authenticated or conf.get("ROUTE_ALLOW_ANONYMOUS"):
        return None
    return ProtocolError(ErrorCode.UNAUTHORIZED, ROUTE_NEEDS_LOGIN)


async def route_llm_admit(*, principal: Principal) -> ProtocolError | None:
    """POST /api/route-llm: the anonymous policy, then the route_llm_user / route_llm_anon limit (429);
    None to go ahead."""
    refusal = route_caller_refusal(principal)
    if refusal is not None:
        return refusal
    return await rate_limit(principal=principal, user_scope="route_llm_user", anon_scope="route_llm_anon")
