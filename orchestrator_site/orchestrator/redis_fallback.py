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
  At the deadline the entry is withdrawn if no agent has read it yet (then the
  TIMEOUT says ``"may_have_run": false``); an agent that reaches an entry past
  its caller's deadline answers TIMEOUT without running it. Either way a
  timed-out request is not run behind the caller's back.
* Every listener a waiting request was counted on is known dead (its liveness
  lapsed, or ``forget_instance``: the orchestrator saw its socket drop without
  a goodbye): the request is withdrawn and answered at once, AGENT_UNAVAILABLE
  if no agent had read it, AGENT_DISCONNECTED (``may_have_run: true``) if the
  dead one had. Requests waiting for live listeners keep waiting.
* ``abandon(rid, ...)``: the caller's connection is gone or the orchestrator
  stops; an unread entry is withdrawn so it never runs.

The watch (dead listeners, abandoned callers) is one task, ``_watch_loop``,
awake only while requests wait.
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
from agents.redis_streams import FORGET_INSTANCE_SCRIPT, Sent, StreamRequester, live_members
from agents.runtime import redis_conn

logger = logging.getLogger(__name__)

_REDIS_ERRORS = (RedisError, OSError, asyncio.TimeoutError)


class _Wait:
    """A request waiting in a stream for its answer, and the listeners it was counted on."""

    __slots__ = ("sent", "rid", "listeners", "abandon")

    def __init__(self, sent: Sent, rid: Any, listeners: frozenset[str]) -> None:
        self.sent = sent
        self.rid = rid
        self.listeners = listeners
        self.abandon: tuple[ErrorCode, str] | None = None  # set by abandon(): answer this, withdraw the entry


class RedisFallback:
    def __init__(
        self,
        *,
        redis_url: str,
        prefix: str,
        retry_after_s: float = 1.0,
        probe_timeout_s: float = 1.0,
        listeners_ttl_s: float = 0.25,
        watch_every_s: float = 0.25,
    ):
        self.redis_url = redis_url
        self.keys = RedisKeys(prefix)
        self.retry_after_s = retry_after_s
        self.probe_timeout_s = probe_timeout_s
        self.listeners_ttl_s = listeners_ttl_s
        self.watch_every_s = watch_every_s
        # Per type: (monotonic time of the answer, a task reading the live consumers).
        # Many requests in flight share one probe instead of one round trip each.
        self._probes: dict[str, tuple[float, asyncio.Task[frozenset[str]]]] = {}
        # Per type: the latest forget_instance still running; probes of the type wait for it.
        self._forgets: dict[str, asyncio.Task[None]] = {}
        self._waits: dict[Any, _Wait] = {}
        self._wake = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self.available = False
        self._redis: Any = None
        self._requester: StreamRequester | None = None
        self._forget_script: Any = None
        self._failed_at = 0.0
        self.submitted = 0

    async def start(self) -> None:
        """Create the client and the reply reader; a Redis that is down now is not an error."""
        self._redis = redis_conn.acquire(self.redis_url)
        self._forget_script = self._redis.register_script(FORGET_INSTANCE_SCRIPT)
        self._requester = StreamRequester(self._redis, self.keys)
        await self._requester.start()
        self._watcher = asyncio.get_running_loop().create_task(self._watch_loop(), name="redis-fallback-watch")
        try:
            async with asyncio.timeout(self.probe_timeout_s * 4):
                await self._redis.ping()
            self._mark_up()
        except _REDIS_ERRORS as exc:
            self._mark_down(exc)

    async def close(self) -> None:
        tasks = [t for _at, t in self._probes.values()] + list(self._forgets.values())
        if self._watcher is not None:
            tasks.append(self._watcher)
            self._watcher = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._probes.clear()
        self._forgets.clear()
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
        except _REDIS_ERRORS as exc:
            self._mark_down(exc)
            return self._unavailable(rid, agent_type, "Redis is unreachable")
        if not listeners:
            return self._unavailable(
                rid,
                agent_type,
                f"No instance of agent '{agent_type}' is connected, and none is listening on Redis either",
            )
        self.submitted += 1
        sent: Sent | None = None
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0.001)):
                sent = await self._requester.send(agent_type, request, max(deadline - loop.time(), 0.001))
                self._waits[rid] = _Wait(sent, rid, listeners)
                if len(self._waits) == 1:
                    self._wake.set()  # the watch sleeps while nothing waits
                answer = await sent.answer
        except TimeoutError:
            return await self._timed_out(sent, rid, agent_type, timeout_s)
        except (RedisError, OSError) as exc:
            self._mark_down(exc)
            return self._unavailable(rid, agent_type, "Redis is unreachable")
        finally:
            if sent is not None:
                self._waits.pop(rid, None)
                self._requester.forget(sent)
        answer["id"] = rid
        answer["transport"] = "redis"
        return answer

    async def _timed_out(self, sent: Sent | None, rid: Any, agent_type: str, timeout_s: float) -> dict[str, Any]:
        """TIMEOUT, after taking the entry back if no agent has read it (then it never runs)."""
        assert self._requester is not None
        withdrawn = sent is not None and await self._requester.give_up(sent, self.probe_timeout_s)
        return protocol.unfinished(
            rid,
            ErrorCode.TIMEOUT,
            f"No answer from agent '{agent_type}' over Redis in time",
            may_have_run=not withdrawn,
            details={"agent": agent_type, "timeout_ms": round(timeout_s * 1000)},
            transport="redis",
        )

    async def _withdraw(self, sent: Sent, mode: str, live: frozenset[str] = frozenset()) -> str:
        assert self._requester is not None
        try:
            async with asyncio.timeout(self.probe_timeout_s):
                return await self._requester.withdraw(sent, mode, live)
        except _REDIS_ERRORS as exc:
            logger.warning("Could not withdraw stream entry of %s: %s", sent.agent_type, exc)
            return "unknown"

    # --- callers that gave up, listeners that died ----------------------------------------
    def abandon(self, rid: Any, code: ErrorCode, message: str) -> bool:
        """Answer a waiting request with ``code`` (its entry withdrawn if unread); False if it is not waiting."""
        wait = self._waits.get(rid)
        if wait is None:
            return False
        wait.abandon = (code, message)
        self._wake.set()
        return True

    def waiting(self) -> int:
        return len(self._waits)

    def forget_instance(self, agent_type: str, instance_id: str) -> None:
        """The instance died (its socket dropped without a goodbye): stop counting it at once.

        It leaves the type's liveness set and loses its idempotency claims (``FORGET_INSTANCE_SCRIPT``)
        until it refreshes them itself, which a live one does within a fraction of a second. Probes of
        the type made from now on wait for this write, so none counts the dead instance again.
        """
        if self._redis is None:
            return
        previous = self._forgets.get(agent_type)
        task = asyncio.get_running_loop().create_task(self._forget(agent_type, instance_id, previous))
        self._forgets[agent_type] = task
        task.add_done_callback(lambda t: self._forgets.get(agent_type) is t and self._forgets.pop(agent_type))
        self._probes.pop(agent_type, None)
        self._wake.set()

    async def _forget(self, agent_type: str, instance_id: str, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        try:
            async with asyncio.timeout(self.probe_timeout_s):
                await self._forget_script(
                    keys=[self.keys.live(agent_type), self.keys.idempotency_owner(agent_type, instance_id)],
                    args=[instance_id],
                )
        except _REDIS_ERRORS as exc:
            logger.warning("Could not mark %s/%s as gone on Redis: %s", agent_type, instance_id, exc)

    async def _watch_loop(self) -> None:
        while True:
            if not self._waits:
                await self._wake.wait()
            self._wake.clear()
            try:  # abandon() and forget_instance() wake it early
                await asyncio.wait_for(self._wake.wait(), self.watch_every_s)
            except TimeoutError:
                pass
            try:
                await self.watch_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Redis fallback watch failed; retrying")

    async def watch_once(self) -> None:
        """Answer abandoned requests, and those whose every listener is dead (one pass).

        The withdrawals of one pass run concurrently: the requester pipelines them into one round trip.
        """
        await asyncio.gather(*(self._abandon_now(w) for w in list(self._waits.values()) if w.abandon is not None))
        for agent_type in {w.sent.agent_type for w in self._waits.values()}:
            try:
                async with asyncio.timeout(self.probe_timeout_s):
                    live = await asyncio.shield(self._listeners(agent_type))
            except _REDIS_ERRORS:
                continue  # Redis away: the requests' own timeouts still answer them
            waits = [w for w in self._waits.values() if w.sent.agent_type == agent_type]
            await asyncio.gather(*(self._check_dead(w, live) for w in waits if not w.listeners <= live))
            for wait in waits:
                wait.listeners = live

    async def _abandon_now(self, wait: _Wait) -> None:
        code, message = wait.abandon  # type: ignore[misc]
        outcome = await self._withdraw(wait.sent, "unread")
        if outcome != "gone":  # gone: the agent's answer is on its way
            self._resolve(
                wait,
                protocol.unfinished(
                    wait.rid,
                    code,
                    message,
                    may_have_run=outcome != "withdrawn",
                    details={"agent": wait.sent.agent_type},
                ),
            )

    async def _check_dead(self, wait: _Wait, live: frozenset[str]) -> None:
        outcome = await self._withdraw(wait.sent, "dead", live)
        agent_type = wait.sent.agent_type
        if outcome == "withdrawn":
            self._resolve(
                wait,
                protocol.error(
                    wait.rid,
                    ErrorCode.AGENT_UNAVAILABLE,
                    f"Every instance of agent '{agent_type}' listening on Redis stopped before taking the request",
                    {"agent": agent_type, "transports_tried": ["socket", "redis"], "may_have_run": False},
                ),
            )
        elif outcome == "abandoned":
            self._resolve(
                wait,
                protocol.unfinished(
                    wait.rid,
                    ErrorCode.AGENT_DISCONNECTED,
                    f"The instance of agent '{agent_type}' that took the request over Redis stopped before answering",
                    may_have_run=True,
                    details={"agent": agent_type},
                ),
            )

    @staticmethod
    def _resolve(wait: _Wait, frame: dict[str, Any]) -> None:
        if not wait.sent.answer.done():
            wait.sent.answer.set_result(frame)

    # --- listeners ------------------------------------------------------------------------
    def _listeners(self, agent_type: str) -> asyncio.Task[frozenset[str]]:
        now = time.monotonic()
        probe = self._probes.get(agent_type)
        if probe is None or now - probe[0] > self.listeners_ttl_s or (probe[1].done() and probe[1].exception()):
            task = asyncio.get_running_loop().create_task(self._probe(agent_type))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # retrieved: no "never retrieved" log
            self._probes[agent_type] = (now, task)
            return task
        return probe[1]

    async def _probe(self, agent_type: str) -> frozenset[str]:
        forget = self._forgets.get(agent_type)
        if forget is not None:
            await asyncio.gather(forget, return_exceptions=True)
        return await live_members(self._redis, self.keys, agent_type)

    def state(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "submitted": self.submitted,
            "in_flight": self._requester.in_flight if self._requester else 0,
        }

    # --- internals --------------------------------------------------------------------
    @staticmethod
    def _unavailable(rid: Any, agent_type: str, message: str) -> dict[str, Any]:
        return protocol.error(
            rid, ErrorCode.AGENT_UNAVAILABLE, message, {"agent": agent_type, "transports_tried": ["socket", "redis"]}
        )

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
