"""Talk to agents through Redis only (no orchestrator), with the usual envelope.

For scripts and older tools that reach agents over Redis::

    from agents.redis_client import redis_request
    frame = redis_request("naming", "allocate_namespace", {"environment": "test"},
                          timeout_ms=5000, idempotency_key="job-42")
    # {"id": ..., "status": "success", "data": {...}, "transport": "redis", ...}

    frame = await redis_request_async("naming", "echo", {"x": 1}, timeout_ms=2000)

    async with AsyncRedisAgentClient() as client:        # many requests in flight
        frames = await asyncio.gather(*(client.request("naming", "echo", {"i": i}) for i in range(1000)))

The request goes into the agent type's stream, so it waits there for an agent
if none is running (at-least-once delivery; give allocations an
``idempotency_key`` so a retry returns the first answer). Errors come back as
error frames (TIMEOUT when no answer arrives in time, AGENT_UNAVAILABLE when
Redis cannot be reached); these functions do not raise for them.

Works without Django: ``redis_url`` and the key prefix default to
``settings.REDIS_URL`` / ``settings.REDIS_KEY_PREFIX`` when Django is
configured, else to the REDIS_URL / REDIS_KEY_PREFIX environment variables.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import orjson
import redis
from redis.exceptions import RedisError

from agents import protocol
from agents.protocol import ErrorCode
from agents.redis_keys import CONSUMER_GROUP, RedisKeys
from agents.redis_streams import DEFAULT_STREAM_MAXLEN, WITHDRAW_SCRIPT, StreamRequester, client_id, entry_fields
from agents.runtime import redis_conn
from orchestrator_common.env import DEFAULT_REDIS_KEY_PREFIX, DEFAULT_REDIS_URL, env_str

DEFAULT_TIMEOUT_MS = 30_000


def _setting_or_env(name: str, default: str) -> str:
    """A Django setting when Django is configured (agents, web), else the environment (plain scripts)."""
    from django.conf import settings

    if settings.configured:
        return getattr(settings, name)
    return env_str(name, default)


def default_redis_url() -> str:
    return _setting_or_env("REDIS_URL", DEFAULT_REDIS_URL)


def default_prefix() -> str:
    return _setting_or_env("REDIS_KEY_PREFIX", DEFAULT_REDIS_KEY_PREFIX)


def build_request(
    agent: str,
    action: str,
    data: dict[str, Any] | None,
    *,
    timeout_ms: float,
    idempotency_key: str | None,
    request_id: Any = None,
    interface: str | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "id": request_id if request_id is not None else protocol.new_request_id(),
        "agent": agent,
        "action": action,
        "data": data or {},
        "timeout_ms": timeout_ms,
    }
    if idempotency_key is not None:
        frame["idempotency_key"] = idempotency_key
    if interface is not None:
        frame["interface"] = interface
    return frame


def _timeout_frame(frame: dict[str, Any], timeout_ms: float, *, withdrawn: bool) -> dict[str, Any]:
    # Withdrawn: the entry was taken back unread, it never runs. Otherwise an agent may have it.
    return protocol.unfinished(
        frame["id"],
        ErrorCode.TIMEOUT,
        f"No answer from agent '{frame['agent']}' over Redis within {timeout_ms:g} ms",
        may_have_run=not withdrawn,
        details={"agent": frame["agent"], "timeout_ms": timeout_ms},
        transport="redis",
    )


def _withdraw_args(keys: RedisKeys, agent: str, entry_id: Any) -> list[Any]:
    """WITHDRAW_SCRIPT's call for one entry: script, key count, KEYS, ARGV (mode "unread")."""
    return [WITHDRAW_SCRIPT, 1, keys.stream(agent), CONSUMER_GROUP, entry_id, "unread"]


def _outcome(result: Any) -> str:
    return result.decode() if isinstance(result, bytes) else str(result)


def _unavailable_frame(frame: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    return protocol.error(
        frame["id"],
        ErrorCode.AGENT_UNAVAILABLE,
        f"Redis is unreachable: {exc}",
        {"agent": frame["agent"]},
        transport="redis",
    )


def _one_shot(
    agent: str,
    action: str,
    data: dict[str, Any] | None,
    *,
    timeout_ms: float,
    idempotency_key: str | None,
    request_id: Any,
    interface: str | None,
    prefix: str | None,
) -> tuple[dict[str, Any], RedisKeys, str, dict[Any, Any]]:
    """What redis_request(_async) sends: the frame, the keys, the call's own reply list and the entry's fields
    (typed dict[Any, Any]: redis-py's xadd wants a dict of any encodable keys and values; these are bytes)."""
    frame = build_request(
        agent,
        action,
        data,
        timeout_ms=timeout_ms,
        idempotency_key=idempotency_key,
        request_id=request_id,
        interface=interface,
    )
    keys = RedisKeys(prefix if prefix is not None else default_prefix())
    reply = keys.reply_list(f"{client_id()}:{frame['id']}")
    return frame, keys, reply, entry_fields(frame, reply_to=reply, reply_kind="list", timeout_ms=timeout_ms)


def _answer(raw: Any, frame: dict[str, Any]) -> dict[str, Any]:
    answer = orjson.loads(raw)
    answer["id"] = frame["id"]
    return answer


# --- synchronous ----------------------------------------------------------------------

_sync_clients: dict[str, redis.Redis] = {}
_sync_lock = threading.Lock()


def _sync_client(url: str) -> redis.Redis:
    # One client (pool) per URL per process; no socket timeout because BLPOP
    # blocks for as long as the request's timeout.
    with _sync_lock:
        client = _sync_clients.get(url)
        if client is None:
            client = _sync_clients[url] = redis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=2.0)
        return client


def redis_request(
    agent: str,
    action: str,
    data: dict[str, Any] | None = None,
    *,
    timeout_ms: float = DEFAULT_TIMEOUT_MS,
    idempotency_key: str | None = None,
    redis_url: str | None = None,
    prefix: str | None = None,
    request_id: Any = None,
    interface: str | None = None,
) -> dict[str, Any]:
    """Send one request through the agent's stream and wait for its answer (blocking)."""
    frame, keys, reply, fields = _one_shot(
        agent,
        action,
        data,
        timeout_ms=timeout_ms,
        idempotency_key=idempotency_key,
        request_id=request_id,
        interface=interface,
        prefix=prefix,
    )
    client = _sync_client(redis_url or default_redis_url())
    try:
        entry_id = client.xadd(keys.stream(agent), fields, maxlen=DEFAULT_STREAM_MAXLEN, approximate=True)
        got = client.blpop([reply], timeout=max(timeout_ms / 1000, 0.01))
    except (RedisError, OSError) as exc:
        return _unavailable_frame(frame, exc)
    if got is not None:
        return _answer(got[1], frame)
    try:
        outcome = _outcome(client.eval(*_withdraw_args(keys, agent, entry_id)))
        late = client.lpop(reply) if outcome == "gone" else None  # answered as we gave up: a true answer
    except (RedisError, OSError):
        outcome, late = "unknown", None
    return (
        _answer(late, frame)
        if late is not None
        else _timeout_frame(frame, timeout_ms, withdrawn=outcome == "withdrawn")
    )


# --- asyncio --------------------------------------------------------------------------------


async def redis_request_async(
    agent: str,
    action: str,
    data: dict[str, Any] | None = None,
    *,
    timeout_ms: float = DEFAULT_TIMEOUT_MS,
    idempotency_key: str | None = None,
    redis_url: str | None = None,
    prefix: str | None = None,
    request_id: Any = None,
    interface: str | None = None,
) -> dict[str, Any]:
    """The same as ``redis_request``, for asyncio code (one connection waits per call)."""
    frame, keys, reply, fields = _one_shot(
        agent,
        action,
        data,
        timeout_ms=timeout_ms,
        idempotency_key=idempotency_key,
        request_id=request_id,
        interface=interface,
        prefix=prefix,
    )
    client = redis_conn.acquire(redis_url or default_redis_url())
    try:
        try:
            entry_id = await client.xadd(keys.stream(agent), fields, maxlen=DEFAULT_STREAM_MAXLEN, approximate=True)
            got = await client.blpop([reply], timeout=max(timeout_ms / 1000, 0.01))
        except (RedisError, OSError) as exc:
            return _unavailable_frame(frame, exc)
        if got is not None:
            return _answer(got[1], frame)
        try:
            outcome = _outcome(await client.eval(*_withdraw_args(keys, agent, entry_id)))
            late = await client.lpop(reply) if outcome == "gone" else None  # answered as we gave up
        except (RedisError, OSError):
            outcome, late = "unknown", None
    finally:
        await redis_conn.release(client)
    return (
        _answer(late, frame)
        if late is not None
        else _timeout_frame(frame, timeout_ms, withdrawn=outcome == "withdrawn")
    )


class AsyncRedisAgentClient:
    """Many requests in flight over Redis streams, answers on one reply stream."""

    def __init__(self, redis_url: str | None = None, prefix: str | None = None):
        self.redis_url = redis_url or default_redis_url()
        self.keys = RedisKeys(prefix if prefix is not None else default_prefix())
        self._redis: Any = None
        self._requester: StreamRequester | None = None

    async def connect(self) -> AsyncRedisAgentClient:
        self._redis = redis_conn.acquire(self.redis_url)
        self._requester = StreamRequester(self._redis, self.keys)
        await self._requester.start()
        return self

    async def request(
        self,
        agent: str,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
        idempotency_key: str | None = None,
        request_id: Any = None,
        interface: str | None = None,
    ) -> dict[str, Any]:
        assert self._requester is not None, "call connect() first"
        frame = build_request(
            agent,
            action,
            data,
            timeout_ms=timeout_ms,
            idempotency_key=idempotency_key,
            request_id=request_id,
            interface=interface,
        )
        sent = None
        try:
            async with asyncio.timeout(timeout_ms / 1000):
                sent = await self._requester.send(agent, frame, timeout_ms / 1000)
                return await sent.answer
        except TimeoutError:
            withdrawn = sent is not None and await self._requester.give_up(sent)
            return _timeout_frame(frame, timeout_ms, withdrawn=withdrawn)
        except (RedisError, OSError) as exc:
            return _unavailable_frame(frame, exc)
        finally:
            if sent is not None:
                self._requester.forget(sent)

    async def close(self) -> None:
        if self._requester is not None:
            await self._requester.stop()
            self._requester = None
        if self._redis is not None:
            await redis_conn.release(self._redis)
            self._redis = None

    async def __aenter__(self) -> AsyncRedisAgentClient:
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
