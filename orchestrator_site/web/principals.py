"""Who is calling: API tokens and sessions resolved to a small immutable value.

The fast HTTP path and the WebSocket consumer authenticate without DRF's
request machinery, so they share this module; DRF views use DRF's own
authentication classes (see ``authentication.py``) against the same tokens.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

_TOKEN_KEYWORDS = (b"token", b"bearer")
_CACHE_MAX = 10_000


class AuthenticationFailed(Exception):
    """Credentials were presented and are wrong (HTTP 401, whatever the anonymous policy)."""


@dataclass(frozen=True)
class Principal:
    user_id: int | None
    username: str
    is_staff: bool
    client_ip: str = ""

    @property
    def is_authenticated(self) -> bool:
        return self.user_id is not None

    @property
    def throttle_ident(self) -> str:
        return f"user:{self.user_id}" if self.user_id is not None else f"anon:{self.client_ip or '-'}"

    @classmethod
    def anonymous(cls, client_ip: str = "") -> Principal:
        return cls(user_id=None, username="", is_staff=False, client_ip=client_ip)

    @classmethod
    def from_user(cls, user: Any, client_ip: str = "") -> Principal:
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return cls.anonymous(client_ip)
        return cls(user_id=user.pk, username=user.get_username(), is_staff=bool(user.is_staff), client_ip=client_ip)


def token_from_headers(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The key of an ``Authorization: Token <key>`` (or ``Bearer <key>``) header.

    None when there is no Authorization header; AuthenticationFailed when there
    is one we cannot read (DRF answers 401 in that case too).
    """
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        parts = value.split()
        if not parts or parts[0].lower() not in _TOKEN_KEYWORDS:
            raise AuthenticationFailed("Unsupported Authorization header; use 'Token <key>'")
        if len(parts) != 2:
            raise AuthenticationFailed("Invalid token header")
        try:
            return parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("Invalid token header") from None
    return None


def client_ip_of(scope: dict[str, Any]) -> str:
    """The caller's address; X-Forwarded-For only when REST_FRAMEWORK NUM_PROXIES says a proxy sets it."""
    num_proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    if num_proxies:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                addrs = [a.strip() for a in value.decode("latin1").split(",") if a.strip()]
                if addrs:
                    return addrs[-min(num_proxies, len(addrs))]
    client = scope.get("client")
    return str(client[0]) if client else ""


def client_ip_of_request(request: Any) -> str:
    """client_ip_of for a Django/DRF request. Unlike DRF's stock get_ident, an
    X-Forwarded-For header is ignored unless NUM_PROXIES is set, so a client
    cannot pick a fresh address per request to dodge the anonymous limit."""
    num_proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES")
    xff = request.META.get("HTTP_X_FORWARDED_FOR")
    if num_proxies and xff:
        addrs = [a.strip() for a in xff.split(",") if a.strip()]
        if addrs:
            return addrs[-min(num_proxies, len(addrs))]
    return str(request.META.get("REMOTE_ADDR") or "")


# Resolved tokens are kept for a few seconds so the hot path does not pay a
# database round trip (and a thread hop) per request; a revoked token keeps
# working for at most WEB["TOKEN_CACHE_TTL_S"].
_token_cache: dict[str, tuple[float, Principal | None]] = {}


def _lookup_token(key: str) -> Principal | None:
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return Principal.from_user(token.user)


async def principal_for_token(key: str, *, client_ip: str = "", now: float | None = None) -> Principal:
    """The token's user; AuthenticationFailed for an unknown key or an inactive user."""
    now = time.monotonic() if now is None else now
    hit = _token_cache.get(key)
    if hit is not None and hit[0] > now:
        principal = hit[1]
    else:
        principal = await database_sync_to_async(_lookup_token)(key)
        ttl = float(settings.WEB["TOKEN_CACHE_TTL_S"])
        if ttl > 0:
            if len(_token_cache) >= _CACHE_MAX:
                _token_cache.clear()
            _token_cache[key] = (now + ttl, principal)
    if principal is None:
        raise AuthenticationFailed("Invalid token")
    return replace(principal, client_ip=client_ip)


def token_cache_clear() -> None:
    _token_cache.clear()
