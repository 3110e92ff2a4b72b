"""The "websocket" half of asgi.py: Origin check -> session auth -> /ws/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from django.urls import re_path

from orchestrator_site.web.consumers import AgentSocketConsumer

websocket_urlpatterns = [re_path(r"^ws/?$", AgentSocketConsumer.as_asgi())]


def origin_allowed(origin: bytes | None) -> bool:
    """Browsers always send Origin on a WebSocket handshake, so a foreign page
    cannot ride on a user's session cookie: its Origin must be one of ours
    (ALLOWED_HOSTS, or CSRF_TRUSTED_ORIGINS). Programs send no Origin and are
    judged by their token alone."""
    if origin is None:
        return True
    text = origin.decode("latin1").strip()
    if text in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False  # includes the opaque origin "null"
    host, _port = split_domain_port(parsed.netloc)
    return bool(host) and validate_host(host, settings.ALLOWED_HOSTS)


class OriginCheck:
    def __init__(self, app: Callable[..., Awaitable[None]]):
        self.app = app

    async def __call__(
        self, scope: dict[str, Any], receive: Callable[..., Awaitable[Any]], send: Callable[..., Awaitable[Any]]
    ) -> None:
        origin = next((v for k, v in scope.get("headers", ()) if k == b"origin"), None)
        if not origin_allowed(origin):
            await WebsocketDenier()(scope, receive, send)
            return
        await self.app(scope, receive, send)


def websocket_application() -> Callable[..., Awaitable[None]]:
    return OriginCheck(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
