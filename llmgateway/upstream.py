"""The calls upstream: one pooled ``aiohttp.ClientSession`` per event loop, and what a call can fail with.

Keep-alive connections are reused across requests (up to GATEWAY_MAX_CONNECTIONS open, an idle one kept
GATEWAY_KEEPALIVE_S); the connect timeout is the session's, the first-byte and total timeouts are the
caller's (``asyncio.timeout`` around the parts they bound), and the read timeout is the longest silence
allowed between two chunks of an answer.

Why aiohttp and not httpx (which issue 15 first named): the gateway's budget on two cores is well under
1 ms of CPU per proxied request for everything, and httpx alone spends more than half of it. Measured in
one process against the fake provider, interleaved (``bench/bench_upstream_clients.py``, bench/gateway.md):
httpx 0.28 590-630 us of CPU per request (one client or eight in turn), httpcore's pool alone 380 us at one
connection and 2,300 us at 32, aiohttp 73-126 us. aiohttp also parses with its C parser, and its pool hands
out a connection without polling every idle one (httpcore's ``has_expired`` check on each request).

Callers see only this module's ``Response`` and ``UpstreamError`` kinds, so the client library is
named in one place. Cookies a provider sets are dropped (``DummyCookieJar``): one caller's must never
reach another's call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp

from llmgateway import conf, shutdown
from orchestrator_common.per_loop import PerLoop


class UpstreamError(Exception):
    """The call failed on the wire (no HTTP status to judge by)."""


class ConnectFailed(UpstreamError):
    """No connection to the provider (refused, unreachable, connect timeout)."""


class Stalled(UpstreamError, TimeoutError):
    """The provider went silent for longer than the read timeout."""


class Broken(UpstreamError):
    """The connection broke mid-answer (closed early, malformed HTTP, cut chunked body)."""


@contextmanager
def _translated() -> Iterator[None]:
    """aiohttp's exceptions as this module's: the one place that knows them."""
    try:
        yield
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
        raise ConnectFailed(f"cannot connect: {exc}") from exc
    except aiohttp.ServerTimeoutError as exc:  # sock_read: silence between two reads
        raise Stalled(str(exc) or "read timeout") from exc
    except aiohttp.ClientError as exc:
        raise Broken(f"{type(exc).__name__}: {exc}") from exc


class Response:
    """A 2xx-or-not answer whose headers are in; the body is read with ``read()`` or ``chunks()``."""

    __slots__ = ("_response", "status")

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response
        self.status = response.status

    def header(self, name: str) -> str | None:
        return self._response.headers.get(name)

    async def read(self) -> bytes:
        with _translated():
            return await self._response.read()

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (transfer encoding removed), each piece as soon as it is read."""
        content = self._response.content
        while True:
            with _translated():
                chunk = await content.readany()
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        """Done with it: a fully read answer gives its connection back to the pool, any other closes it (so
        the provider sees the request abandoned and stops generating)."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


async def post(url: str, headers: dict[str, str], body: bytes) -> Response:
    """Send the request and return once the answer's headers are in (raises UpstreamError)."""
    with _translated():
        return Response(await _sessions.get().post(url, data=body, headers=headers, allow_redirects=False))


def _new_session(loop: asyncio.AbstractEventLoop) -> aiohttp.ClientSession:
    read = float(conf.get("READ_TIMEOUT_S"))
    connector = aiohttp.TCPConnector(
        limit=int(conf.get("MAX_CONNECTIONS")),
        limit_per_host=0,
        keepalive_timeout=float(conf.get("KEEPALIVE_S")),
        ttl_dns_cache=60,
    )
    # connect=None: waiting for a free pooled connection is bounded by the caller's first-byte timeout.
    timeout = aiohttp.ClientTimeout(
        total=None, connect=None, sock_connect=float(conf.get("CONNECT_TIMEOUT_S")), sock_read=read
    )
    # The provider's address is configured, never taken from the environment's proxies (trust_env off).
    session = aiohttp.ClientSession(
        connector=connector, timeout=timeout, trust_env=False, cookie_jar=aiohttp.DummyCookieJar()
    )
    # Closed when the server stops: its kept-alive connections go away cleanly (without it, every stop logged
    # "Unclosed client session" and "Unclosed connector" as errors).
    shutdown.on_server_stop(session.close)
    return session


# A closed session (closed as the server stopped) is replaced if a call still comes.
_sessions: PerLoop[aiohttp.ClientSession] = PerLoop(_new_session, stale=lambda session: session.closed)
