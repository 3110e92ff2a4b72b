"""Fixtures for the Redis transport tests: a real Redis, a unique key prefix, real agents in-process."""
from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import redis

from agents.protocol import ErrorCode, ProtocolError
from agents.redis_keys import RedisKeys
from agents.runtime.base import Agent, RequestContext, action

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


@pytest.fixture
def private_redis():
    """A redis-server of the test's own, which the test may kill and restart."""
    from tests.redis.server import PrivateRedis

    server = PrivateRedis().start()
    try:
        yield server
    finally:
        server.cleanup()


def run(coro: Any, timeout: float = 60) -> Any:
    """Run one test coroutine on a fresh loop, bounded so a hang fails instead of stalling the suite."""

    async def bounded() -> Any:
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())
