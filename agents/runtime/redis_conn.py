"""One asyncio Redis client per process, shared by everything that needs one.

The Redis transport, the idempotency store and the orchestrator's fallback
each ``acquire`` the client at start and ``release`` it at stop; the last
release closes it. That keeps "one client per process, created at start,
closed at exit" true however many users a process has.

Two traps of redis-py are handled here:

* ``socket_timeout`` applies to every read, including idle blocking reads
  (XREADGROUP BLOCK, BLPOP), which would then fail spuriously. The client has
  no socket timeout; callers bound non-blocking calls with ``asyncio.timeout``
  and blocking ones with the command's own BLOCK/timeout argument.
* the default pool raises MaxConnectionsError past 100 connections; a
  BlockingConnectionPool makes the 101st caller wait for a free connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import redis.asyncio as aioredis

DEFAULT_MAX_CONNECTIONS = 256


def make_client(url: str, *, max_connections: int = DEFAULT_MAX_CONNECTIONS) -> aioredis.Redis:
    """A fresh client (callers that want sharing use ``acquire``)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=None,  # wait for a free connection; callers bound the whole call
        socket_timeout=None,
        socket_connect_timeout=2.0,
        socket_keepalive=True,
        health_check_interval=30,
    )
    return aioredis.Redis(connection_pool=pool)


@dataclass
class _Shared:
    client: aioredis.Redis
    users: int


_shared: dict[tuple[str, int], _Shared] = {}


def acquire(url: str) -> aioredis.Redis:
    """The process's client for ``url`` on the running loop (created on first use)."""
    key = (url, id(asyncio.get_running_loop()))
    entry = _shared.get(key)
    if entry is None:
        entry = _shared[key] = _Shared(make_client(url), 0)
    entry.users += 1
    return entry.client


async def release(client: aioredis.Redis) -> None:
    """Give the client back; the last user closes it."""
    for key, entry in list(_shared.items()):
        if entry.client is client:
            entry.users -= 1
            if entry.users <= 0:
                del _shared[key]
                await client.aclose()
            return
    await client.aclose()  # not shared: close it outright
