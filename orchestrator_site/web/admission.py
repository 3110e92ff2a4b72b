"""Admission for the fast HTTP paths: who is calling (token or anonymous) and
whether their rate limit lets them in, before any body is read.

Used by POST /api/request here and by the router's POST /api/route-llm fast
path (``llmrouter.api.fast``), so both count with the same limiter as their
DRF views.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings

from agents.protocol import ErrorCode, ProtocolError
from llmrouter.api.permissions import RouteCallerPermission
from orchestrator_site.web.principals import (
    AuthenticationFailed,
    Principal,
    client_ip_of,
    principal_for_token,
    token_from_headers,
)
from orchestrator_site.web.throttling import throttle_hit_async


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
    return ProtocolError(ErrorCode.RATE_LIMITED, "Request was throttled",
                         {"retry_after_s": round(wait, 3), "scope": scope})


async def route_llm_admit(scope: dict[str, Any], *, allow_anonymous: bool = True) -> dict[str, Any] | None:
    """For the router's fast path: None to go ahead, else the error frame to answer
    (401 for a bad token, or for no token when anonymous routing is off; 429 past
    the route_llm_user / route_llm_anon limit)."""
    try:
        principal = await principal_from_scope(scope)
    except AuthenticationFailed as exc:
        return ProtocolError(ErrorCode.UNAUTHORIZED, str(exc)).to_frame(None)
    if not allow_anonymous and not principal.is_authenticated:
        return ProtocolError(ErrorCode.UNAUTHORIZED, RouteCallerPermission.message).to_frame(None)
    refusal = await rate_limit(principal=principal, user_scope="route_llm_user", anon_scope="route_llm_anon")
    return refusal.to_frame(None) if refusal is not None else None
