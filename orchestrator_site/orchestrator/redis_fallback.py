"""The orchestrator's way to an agent type when no socket instance is connected.

``RedisFallback.submit`` writes the (already normalized) request into the
type's stream and waits for the answer on the orchestrator's reply stream.
It never raises and never waits past ``timeout_s``:

* Redis unreachable: AGENT_UNAVAILABLE at once. After a failure the client is
  marked unavailable and, for ``retry_after_s``, requests are refused without
  touching the network, so a dead Redis costs nothing per request; the next
  request after that tries again (and brings ``available`` back).
* Redis up but no agent of the type listening on it either (no instance has
  refreshed its entry in ``<prefix>live:<type>`` lately): AGENT_UNAVAILABLE at
  once, and nothing is written. Queuing it would answer the client with a
  timeout after ``timeout_s`` and then run the request later, when an agent
  appears, with nobody waiting: a ghost allocation. Clients that do want
  requests to wait in the stream for an agent use ``agents.redis_client``.
* Otherwise: the agent's answer (marked ``"transport": "redis"``), or TIMEOUT.
  An entry whose caller has given up is answered TIMEOUT by the agent without
  running it, so a timed-out request is not run behind the caller's back.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from redis.exceptions import RedisError

from agents import protocol
from agents.protocol import ErrorCode
from agents.redis_keys import RedisKeys
from agents.redis_streams import StreamRequester, live_consumers
from agents.runtime import redis_conn

logger = logging.getLogger(__name__)


class RedisFallback:
    def __init__(self, *, redis_url: str, prefix: str, retry_after_s: float = 1.0, probe_timeout_s: float = 1.0,
                 listeners_ttl_s: float = 0.25):
        self.redis_url = redis_url
        self.keys = RedisKeys(prefix)
        self.retry_after_s = retry_after_s
        self.probe_timeout_s = probe_timeout_s
        self.listeners_ttl_s = listeners_ttl_s
        # Per type: (monotonic time of the answer, a task counting live consumers).
        # Many requests in flight share one probe instead of one round trip each.
        self._probes: dict[str, tuple[float, asyncio.Task[int]]] = {}
        self.available = False
        self._redis: Any = None
        self._requester: StreamRequester | None = None
        self._failed_at = 0.0
        self.submitted = 0

    async def start(self) -> None:
        """Create the client and the reply reader; a Redis that is down now is not an error."""
        self._redis = redis_conn.acquire(self.redis_url)
        self._requester = StreamRequester(self._redis, self.keys)
        await self._requester.start()
        try:
            async with asyncio.timeout(self.probe_timeout_s * 4):
                await self._redis.ping()
            self._mark_up()
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._mark_down(exc)

    async def close(self) -> None:
        for _at, task in self._probes.values():
            task.cancel()
        await asyncio.gather(*(t for _at, t in self._probes.values()), return_exceptions=True)
        self._probes.clear()
        if self._requester is not None:
            await self._requester.stop()
            self._requester = None
        if self._redis is not None:
            await redis_conn.release(self._redis)
            self._redis = None
        self.available = False

    async def submit(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        rid = request.get("id")
        agent_type = request.get("agent", "")
        if self._requester is None:
            return self._unavailable(rid, agent_type, "The Redis fallback is not running")
        if not self.available and time.monotonic() - self._failed_at < self.retry_after_s:
            return self._unavailable(rid, agent_type, "Redis is unreachable")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout_s, 0.001)
        try:
            async with asyncio.timeout(min(self.probe_timeout_s, timeout_s)):
                listeners = await asyncio.shield(self._listeners(agent_type))
            self._mark_up()
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._mark_down(exc)
            return self._unavailable(rid, agent_type, "Redis is unreachable")
        if listeners == 0:
            return self._unavailable(rid, agent_type, f"No instance of agent '{agent_type}' is connected, "
                                     "and none is listening on Redis either")
        self.submitted += 1
        try:
            answer = await self._requester.submit(agent_type, request, max(deadline - loop.time(), 0.001))
        except asyncio.TimeoutError:
            return protocol.error(rid, ErrorCode.TIMEOUT, f"No answer from agent '{agent_type}' over Redis in time",
                                  {"agent": agent_type, "timeout_ms": round(timeout_s * 1000)}, transport="redis")
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            return self._unavailable(rid, agent_type, "Redis is unreachable")
        answer["id"] = rid
        answer["transport"] = "redis"
        return answer

    def _listeners(self, agent_type: str) -> asyncio.Task[int]:
        now = time.monotonic()
        probe = self._probes.get(agent_type)
        if probe is None or now - probe[0] > self.listeners_ttl_s or (probe[1].done() and probe[1].exception()):
            task = asyncio.get_running_loop().create_task(live_consumers(self._redis, self.keys, agent_type))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no "never retrieved" log
            self._probes[agent_type] = (now, task)
            return task
        return probe[1]

    def state(self) -> dict[str, Any]:
        return {"available": self.available, "submitted": self.submitted,
                "in_flight": self._requester.in_flight if self._requester else 0}

    # --- internals --------------------------------------------------------------------
    @staticmethod
    def _unavailable(rid: Any, agent_type: str, message: str) -> dict[str, Any]:
        return protocol.error(rid, ErrorCode.AGENT_UNAVAILABLE, message,
                              {"agent": agent_type, "transports_tried": ["socket", "redis"]})

    def _mark_down(self, exc: BaseException) -> None:
        first_failure = self._failed_at == 0.0
        self._failed_at = time.monotonic()
        if self.available or first_failure:
            logger.warning("Redis fallback unavailable: %s", exc)
        self.available = False

    def _mark_up(self) -> None:
        if not self.available:
            logger.info("Redis fallback available")
        self.available = True
