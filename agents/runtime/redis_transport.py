"""The Redis transport of an agent process: streams (reliable) plus legacy pub/sub.

Built by the runner as ``RedisTransport(agent, handle, instance_id=...,
redis_url=..., prefix=...)`` next to the socket transport; both feed the same
``handle`` (the runner's wrapper around ``Agent.handle``). It runs four loops,
each kept as a task and cancelled at stop:

* read: XREADGROUP COUNT/BLOCK on ``<prefix>stream:<type>`` as consumer
  ``<instance id>`` of group "agents" (``redis_consumer.StreamConsumer``);
* claim: XAUTOCLAIM of entries idle past ``claim_idle_ms`` (dead consumers);
* live: refreshes this instance in ``<prefix>live:<type>`` so the orchestrator's
  fallback can tell "an agent listens on Redis" from "nobody does";
* legacy: ``agent.<type>.request`` pub/sub (``redis_legacy.LegacyPubSub``).

Redis going away never stops the agent: each loop logs the loss once (shared
``ConnectionState``), retries with backoff and resumes when Redis returns,
recreating the consumer group if Redis came back empty.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agents.redis_keys import RedisKeys
from agents.redis_streams import ensure_group
from agents.runtime import redis_conn
from agents.runtime.redis_consumer import StreamConsumer
from agents.runtime.redis_legacy import LegacyPubSub
from agents.runtime.redis_support import Backoff, ConnectionState, RedisTransportOptions
from agents.runtime.transport import Handle

logger = logging.getLogger(__name__)


class RedisTransport:
    name = "redis"

    def __init__(
        self,
        agent: Any,
        handle: Handle,
        *,
        instance_id: str,
        redis_url: str,
        prefix: str,
        options: RedisTransportOptions | None = None,
    ):
        self.agent = agent
        self.agent_type: str = agent.agent_type
        self.handle = handle
        self.instance_id = instance_id
        self.redis_url = redis_url
        self.options = options or RedisTransportOptions.from_settings()
        self.keys = RedisKeys(prefix, self.options.legacy_channel_prefix)
        self.state = ConnectionState(logger, f"{self.agent_type}/{instance_id}")
        self.redis: aioredis.Redis | None = None
        self.consumer: StreamConsumer | None = None
        self.legacy: LegacyPubSub | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Start listening. Returns at once even when Redis is down (the loops retry)."""
        self.redis = redis_conn.acquire(self.redis_url)
        self.consumer = StreamConsumer(
            agent_type=self.agent_type,
            consumer=self.instance_id,
            handle=self.handle,
            redis=self.redis,
            keys=self.keys,
            options=self.options,
            state=self.state,
        )
        try:
            await asyncio.wait_for(ensure_group(self.redis, self.keys.stream(self.agent_type)), 2.0)
        except (TimeoutError, RedisError, OSError) as exc:
            await self.state.failed(exc, self.redis)  # the read loop recreates the group once Redis answers
        self._spawn(self.consumer.batcher.run(), "writer")
        self._spawn(self.consumer.read_loop(), "read")
        self._spawn(self.consumer.claim_loop(), "claim")
        self._spawn(self._live_loop(), "live")
        if self.options.legacy_pubsub:
            self.legacy = LegacyPubSub(
                agent_type=self.agent_type,
                instance_id=self.instance_id,
                handle=self.handle,
                redis=self.redis,
                keys=self.keys,
                options=self.options,
                state=self.state,
            )
            self._spawn(self.legacy.batcher.run(), "legacy-writer")
            self._spawn(self.legacy.listen_loop(), "legacy")
        logger.info(
            "Redis transport of %s/%s started (stream %s, channel %s)",
            self.agent_type,
            self.instance_id,
            self.keys.stream(self.agent_type),
            self.keys.legacy_request_channel(self.agent_type),
        )

    async def stop(self, drain_timeout: float) -> None:
        """Stop taking requests, answer the ones in hand (up to ``drain_timeout``), leave."""
        if self.redis is None or self._stopping:
            return
        self._stopping = True
        assert self.consumer is not None
        self.consumer.stop_reading()
        if self.legacy is not None:
            self.legacy.stop_listening()
        # The read loop notices within one BLOCK period; past that, cancel it.
        # Entries a cancelled XREADGROUP had already taken stay in our pending
        # list and are reclaimed by another instance: late, not lost.
        loops = [t for t in self._tasks if t.get_name().endswith(("-read", "-legacy"))]
        if loops:
            _done, pending = await asyncio.wait(loops, timeout=self.options.block_ms / 1000 + 0.5)
            for task in pending:
                task.cancel()
        await self.consumer.drain(drain_timeout)
        if self.legacy is not None:
            await self.legacy.drain(max(0.1, drain_timeout))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._leave()
        await redis_conn.release(self.redis)
        self.redis = None
        logger.info("Redis transport of %s/%s stopped", self.agent_type, self.instance_id)

    # --- internals ---------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=f"redis-{self.agent_type}-{self.instance_id}-{what}"))

    async def _live_loop(self) -> None:
        backoff = Backoff()
        every = self.options.live_every_s
        while not self._stopping:
            try:
                await self._refresh_liveness()
                backoff.reset()
                await asyncio.sleep(every)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                await self.state.failed(exc, self.redis)
                await asyncio.sleep(min(backoff.next(), every))

    async def _refresh_liveness(self) -> None:
        assert self.redis is not None
        now = int(time.time() * 1000)
        key = self.keys.live(self.agent_type)
        # One MULTI: add ourselves and prune instances that stopped refreshing.
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {self.instance_id: now + self.options.live_ttl_ms})
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.pexpire(key, self.options.live_ttl_ms * 10)
            await pipe.execute()

    async def _leave(self) -> None:
        assert self.redis is not None and self.consumer is not None
        try:
            await asyncio.wait_for(self.redis.zrem(self.keys.live(self.agent_type), self.instance_id), 2.0)
        except (TimeoutError, RedisError, OSError):
            pass
        await self.consumer.leave_group()

    # --- for tests and status ----------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state.up

    def stats(self) -> dict[str, Any]:
        return {"answered": self.consumer.answered if self.consumer else 0, "connected": self.state.up}
