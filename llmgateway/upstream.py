"""The one pooled ``httpx.AsyncClient`` of this process (per event loop), shared by every call upstream.

Keep-alive connections are reused across requests; the connect timeout is httpx's, the first-byte and
total timeouts are the caller's (``asyncio.timeout`` around the parts they bound), and httpx's read
timeout is the longest silence allowed between two chunks of a stream.
"""
from __future__ import annotations

import asyncio
import weakref

import httpx

from llmgateway import conf

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


def client() -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None or found.is_closed:
        read = float(conf.get("READ_TIMEOUT_S"))
        found = _clients[loop] = httpx.AsyncClient(
            timeout=httpx.Timeout(connect=float(conf.get("CONNECT_TIMEOUT_S")), read=read, write=read,
                                  pool=float(conf.get("FIRST_BYTE_TIMEOUT_S"))),
            limits=httpx.Limits(max_connections=int(conf.get("MAX_CONNECTIONS")),
                                max_keepalive_connections=int(conf.get("MAX_KEEPALIVE"))),
            # The provider's address is configured, not taken from the environment's proxies.
            trust_env=False, follow_redirects=False)
    return found


async def close() -> None:
    """Close this loop's client (shutdown, tests)."""
    found = _clients.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await found.aclose()
