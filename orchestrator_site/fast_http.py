"""HTTP fast paths: exact paths answered by small ASGI handlers before Django.

Django's request cycle under Daphne costs a few milliseconds (each sync
middleware hook and request signal hops to a worker thread), which caps a
hot JSON endpoint at a few hundred requests per second on two cores. A path
registered here skips that cycle: the handler reads the body, validates it
with the same code as the Django view, runs its service in a thread and
answers. Everything else (other paths, other methods on a registered path)
goes to Django unchanged.

    dispatcher = FastHttpDispatcher(fallback=django_asgi_app)
    dispatcher.register("/api/route-llm", handler, methods=("POST",))

A handler is a plain ASGI callable ``async (scope, receive, send)``; the
helpers below read a bounded body and send a JSON answer. Host checking is
done here (Django's ALLOWED_HOSTS) since Django's CommonMiddleware is skipped,
and so is the guard every handler runs in: an exception before its answer
started becomes a 500 whose body the route's ``error_body`` makes (the wire
envelope under /api/, OpenAI's shape under /v1/).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from django.conf import settings
from django.http.request import split_domain_port, validate_host

from agents import protocol
from agents.protocol import ErrorCode

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ErrorBody = Callable[[], Any]  # the JSON body of the 500 a failed handler answers

_JSON_HEADERS = [(b"content-type", b"application/json")]

logger = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


def internal_error_envelope() -> dict[str, Any]:
    """The /api/ paths' 500 body: the wire envelope (Django's views get the same from web/exceptions.py)."""
    return protocol.error(None, ErrorCode.INTERNAL_ERROR, "Internal error; see the server log")


class FastHttpDispatcher:
    def __init__(self, fallback: ASGIApp) -> None:
        self.fallback = fallback
        # Methods None: every method, including ones no list can foresee (QUERY, extension methods).
        self._routes: dict[str, tuple[ASGIApp, frozenset[str] | None, Callable[[Scope], bool] | None, ErrorBody]] = {}
        # Path prefixes whose every other path is answered here too (never by Django), longest first.
        self._prefixes: list[tuple[str, ASGIApp, ErrorBody]] = []
        self._allowed_hosts: list[str] | None = None

    def register(
        self,
        path: str,
        handler: ASGIApp,
        *,
        methods: Iterable[str] | None = ("POST",),
        when: Callable[[Scope], bool] | None = None,
        error_body: ErrorBody = internal_error_envelope,
    ) -> None:
        """Serve ``methods`` (None: all) on ``path`` with ``handler``; with ``when``, only the requests it
        accepts (the others go to Django, e.g. session-authenticated POSTs that need its CSRF check).
        A failure of the handler before its answer started is answered 500 with ``error_body()``."""
        allowed = None if methods is None else frozenset(m.upper() for m in methods)
        self._routes[path] = (handler, allowed, when, error_body)

    def register_prefix(
        self, prefix: str, handler: ASGIApp, *, error_body: ErrorBody = internal_error_envelope
    ) -> None:
        """Serve every path under ``prefix`` that no exact route takes, with every method: for an API
        whose unknown paths must get its own error shape rather than Django's HTML 404 (e.g. /v1/)."""
        self._prefixes.append((prefix, handler, error_body))
        self._prefixes.sort(key=lambda item: -len(item[0]))

    def routes(self) -> dict[str, frozenset[str] | None]:
        return {path: methods for path, (_, methods, _, _) in self._routes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            served = self._handler_for(scope)
            if served is not None:
                if not self._host_allowed(scope):
                    await send_json(send, 400, protocol.error(None, ErrorCode.INVALID_REQUEST, "Host not allowed"))
                    return
                handler, error_body = served
                await guarded(handler, scope, receive, send, error_body)
                return
        await self.fallback(scope, receive, send)

    def _handler_for(self, scope: Scope) -> tuple[ASGIApp, ErrorBody] | None:
        """The handler serving this request, or None for Django."""
        route = self._routes.get(scope["path"])
        if route is not None:
            handler, methods, when, error_body = route
            if (methods is None or scope["method"] in methods) and (when is None or when(scope)):
                return handler, error_body
            return None  # a registered path's other methods (or requests ``when`` refuses) are Django's
        for prefix, handler, error_body in self._prefixes:
            if scope["path"].startswith(prefix):
                return handler, error_body
        return None

    def _host_allowed(self, scope: Scope) -> bool:
        if self._allowed_hosts is None:
            hosts = list(settings.ALLOWED_HOSTS)
            if settings.DEBUG and not hosts:
                hosts = [".localhost", "127.0.0.1", "[::1]"]
            self._allowed_hosts = hosts
        host = header(scope, b"host")
        if host is None:
            return True  # HTTP/1.0 without Host: nothing to check, as Django's fallback when SERVER_NAME is used
        domain, _port = split_domain_port(host.decode("latin-1"))
        return bool(domain) and validate_host(domain, self._allowed_hosts)


class TrackedSend:
    """``send``, remembering whether the response has started.

    ``args`` stays visible: Daphne's send is ``partial(server.handle_reply, <the Twisted request>)``, and
    the gateway's back-pressure (llmgateway/backpressure.py) finds the request through it.
    """

    __slots__ = ("send", "started", "args")

    def __init__(self, send: Send) -> None:
        self.send, self.started = send, False
        self.args = getattr(send, "args", ())

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


async def guarded(
    handler: ASGIApp, scope: Scope, receive: Receive, send: Send, error_body: ErrorBody = internal_error_envelope
) -> None:
    """Run a fast-path handler; an exception before its answer started becomes a 500 with ``error_body()``,
    never the server's HTML page."""
    tracked = TrackedSend(send)
    try:
        await handler(scope, receive, tracked)
    except Exception:
        logger.exception("fast path %s failed", scope.get("path"))
        # Half an answer out: nothing more can be said. Not re-raised: Daphne would then send its own
        # 500 on the started response, which raises inside its application checker.
        if not tracked.started:
            await send_json(send, 500, error_body())


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


async def read_body(receive: Receive, *, max_bytes: int) -> bytes:
    """The whole request body; raises BodyTooLarge past ``max_bytes``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionResetError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(size)
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks) if len(chunks) != 1 else chunks[0]


async def send_json(send: Send, status: int, payload: Any, *, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = orjson.dumps(payload, default=str)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode()), *(headers or ())],
        }
    )
    await send({"type": "http.response.body", "body": body})
