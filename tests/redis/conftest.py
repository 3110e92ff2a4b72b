"""Fixtures for the Redis transport tests: a real Redis, a unique key prefix, real agents in-process."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
import redis
import redis.asyncio as aioredis

from agents.protocol import ErrorCode, ProtocolError
from agents.redis_keys import RedisKeys
from agents.redis_streams import ensure_group
from agents.runtime.base import Agent, RequestContext, action
from agents.runtime.redis_conn import make_client
from agents.runtime.redis_support import RedisTransportOptions
from agents.runtime.redis_transport import RedisTransport
from orchestrator_site.orchestrator.redis_fallback import RedisFallback

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return REDIS_URL


@pytest.fixture
def prefix(redis_url: str):
    """A key prefix no other test uses; every key under it is deleted afterwards."""
    value = f"test:{uuid.uuid4().hex[:8]}:"
    yield value
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=RedisKeys(value).pattern(), count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def agent_type() -> str:
    """A unique type name, so the unprefixed legacy channels are ours alone too."""
    return f"t{uuid.uuid4().hex[:8]}"


class CountingAgent(Agent):
    """A real Agent with actions that make duplicates and failures visible."""

    agent_type = "counting"

    def __init__(self, instance_id: str, config: dict[str, Any] | None = None):
        super().__init__(instance_id, config)
        self.runs: dict[str, int] = {}
        self.gate: asyncio.Event | None = None

    @action(description="Counts how often it ran for a given 'n' (not idempotent).")
    async def allocate(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        n = str(data.get("n"))
        self.runs[n] = self.runs.get(n, 0) + 1
        if self.gate is not None:
            await self.gate.wait()
        return {"n": n, "run": self.runs[n], "instance": self.instance_id}

    @action(idempotent=True)
    async def sleep(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await asyncio.sleep(float(data.get("s", 0.1)))
        return {"slept": data.get("s"), "instance": self.instance_id}

    @action()
    async def fail(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise ProtocolError(ErrorCode(data.get("code", "VALIDATION_ERROR")), "asked to fail")


def make_agent(agent_type: str, instance_id: str = "i1") -> CountingAgent:
    agent = CountingAgent(instance_id)
    agent.agent_type = agent_type  # type: ignore[misc]  # as runner.build_agent gives a generic class its type
    return agent


# Short blocks, claims and liveness, so that what the transport does within seconds happens within a test's.
FAST = dict(block_ms=200, claim_idle_ms=300, claim_interval_ms=100, live_ttl_ms=1500)


def transport_for(agent: Any, redis_url: str, prefix: str, **options: Any) -> RedisTransport:
    opts = RedisTransportOptions(**{**FAST, **options})
    return RedisTransport(
        agent,
        lambda req, tr: agent.handle(req, transport=tr),
        instance_id=agent.instance_id,
        redis_url=redis_url,
        prefix=prefix,
        options=opts,
    )


@asynccontextmanager
async def serving(agent: Any, redis_url: str, prefix: str, **options: Any) -> AsyncIterator[RedisTransport]:
    """``agent`` reading its stream on Redis inside the block; stopped after it, with 2 s to finish."""
    transport = transport_for(agent, redis_url, prefix, **options)
    await transport.start()
    try:
        yield transport
    finally:
        await transport.stop(2)


@asynccontextmanager
async def stream_of(
    redis_url: str, prefix: str, agent_type: str
) -> AsyncIterator[tuple[aioredis.Redis, RedisKeys, str]]:
    """A client, the keys under ``prefix`` and ``agent_type``'s stream with its consumer group; closed after."""
    client = make_client(redis_url)
    keys = RedisKeys(prefix)
    stream = keys.stream(agent_type)
    try:
        await ensure_group(client, stream)
        yield client, keys, stream
    finally:
        await client.aclose()


@asynccontextmanager
async def running_fallback(redis_url: str, prefix: str) -> AsyncIterator[RedisFallback]:
    """The orchestrator's Redis fallback, started for the block and closed after it."""
    fallback = RedisFallback(redis_url=redis_url, prefix=prefix)
    await fallback.start()
    try:
        yield fallback
    finally:
        await fallback.close()


async def add_ghost_listener(client: aioredis.Redis, prefix: str, agent_type: str, name: str = "ghost") -> None:
    """A listener that says it is alive for a minute but never reads (hung, or just killed)."""
    await client.zadd(RedisKeys(prefix).live(agent_type), {name: int(time.time() * 1000) + 60_000})


async def answer_on(client: aioredis.Redis, reply: str) -> dict[str, Any]:
    """The answer an agent pushed onto the reply list ``reply``, waited for up to 10 s."""
    got = await client.blpop([reply], timeout=10)
    assert got is not None, f"no answer on {reply}"
    return orjson.loads(got[1])


def run(coro: Any, timeout: float = 60) -> Any:
    """Run one test coroutine on a fresh loop, bounded so a hang fails instead of stalling the suite."""

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())
