"""Routing requests to agent instances and answers back to their clients.

The pending table maps an internal integer id to the client's request. The
agent only ever sees internal ids, so two clients may both use ``"id": "1"``.
Answers from our own agent runtime start with ``{"id":<int>,``; the relay
splices the client's encoded id (and ``"transport":"socket"``) in front of the
rest of the agent's bytes instead of decoding and re-encoding the frame. Any
other shape falls back to a full decode.

Selection is least-outstanding among READY instances of the type; when every
instance is at its in-flight limit the request waits in a bounded per-type
queue, and past that bound it gets OVERLOADED. Timeouts are checked by one
periodic tick (no timer per request); the tick only scans the table when the
earliest known deadline has passed.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson

from agents import protocol
from agents.protocol import ErrorCode
from orchestrator_site.orchestrator.link import AgentLink, LinkState
from orchestrator_site.orchestrator.pending import Pending
from orchestrator_site.orchestrator.stats import LATENCY_WINDOW

if TYPE_CHECKING:
    from orchestrator_site.orchestrator.config import OrchestratorOptions
    from orchestrator_site.orchestrator.connection import Connection
    from orchestrator_site.orchestrator.events import EventHub
    from orchestrator_site.orchestrator.stats import Stats

logger = logging.getLogger(__name__)

_dumps = orjson.dumps
_APPEND_NEWLINE = orjson.OPT_APPEND_NEWLINE  # orjson adds the newline: no second copy of the frame
# ``LinkState.READY`` looks the member up through the Enum metaclass on every use (about 0.2 us on
# Python 3.11); the hot path compares against this module constant instead.
_READY = LinkState.READY
_ID_PREFIX = b'{"id":'
_ERROR_MARK = b'"status":"error"'
_SUCCESS_MARK = b'"status":"success"'
_TRANSPORT_SOCKET = b',"transport":"socket"'
# An idempotent request is re-sent at most this many times after agent losses.
MAX_ATTEMPTS = 3
# The Redis fallback answers its requests' timeouts itself (after withdrawing the entry, to say truly
# whether it may have run); the tick answers one only if the fallback is this late.
FALLBACK_SLACK_S = 2.0


class Dispatcher:
    def __init__(
        self,
        options: OrchestratorOptions,
        stats: Stats,
        events: EventHub,
        fallback: Any = None,
        *,
        clock: Callable[[], float] = perf_counter,
    ) -> None:
        self.options = options
        # Deadlines, timeouts and latencies are read from this clock (seconds, monotonic): a test passes
        # one it advances by hand, so a timeout needs no real wait.
        self._clock = clock
        self.stats = stats
        self.events = events
        self.fallback = fallback
        self.known_types: set[str] = set()
        self.pools: dict[str, list[AgentLink]] = {}
        self.queues: dict[str, deque[Pending]] = {}
        self.pending: dict[int, Pending] = {}
        self.draining = False
        self._ids = itertools.count(1)
        self._rr = 0
        self._next_deadline = float("inf")
        self._fallback_tasks: set[asyncio.Task[None]] = set()
        self._default_timeout_s = options.request_timeout_ms / 1000

    # --- agent instances ----------------------------------------------------------
    def add_link(self, link: AgentLink) -> None:
        self.pools.setdefault(link.agent_type, []).append(link)
        self._pump_queue(link.agent_type)

    def actions_of(self, agent_type: str) -> frozenset[str] | None:
        """Actions announced by the type's live instances (None when none is connected)."""
        links = self.pools.get(agent_type)
        if not links:
            return None
        if len(links) == 1:
            return links[0].actions
        return frozenset().union(*(link.actions for link in links))

    def link_lost(self, link: AgentLink, *, said_goodbye: bool) -> None:
        """The agent's connection is gone (``said_goodbye``: it sent "draining" first): answer or re-send
        its in-flight requests at once. Called by LinkLifecycle on the link's move to CLOSED."""
        if not said_goodbye and not self.draining and self.fallback is not None and link.instance_id:
            # Died (no goodbye): it must not count as a Redis listener (nor own idempotency claims) for
            # the seconds its liveness entry has left. First, so the fallback's next probes see it gone.
            self.fallback.forget_instance(link.agent_type, link.instance_id)
        links = self.pools.get(link.agent_type, [])
        if link in links:
            links.remove(link)
        if not links:
            self.pools.pop(link.agent_type, None)
        orphans = list(link.inflight.values())
        link.inflight.clear()
        for p in orphans:
            p.link = None
            if p.iid not in self.pending:
                continue
            if p.action in link.idempotent_actions and p.attempts < MAX_ATTEMPTS and self._has_ready(p.agent_type):
                self.stats.resent += 1
                self._route(p)
            else:
                self._fail(
                    p,
                    ErrorCode.AGENT_DISCONNECTED,
                    f"Agent instance {link.agent_type}/{link.instance_id} disconnected before answering",
                    {"agent": link.agent_type, "instance": link.instance_id, "may_have_run": True},
                )
        if not self._has_live(link.agent_type):
            # Nobody is left to take the queue: answer now rather than at timeout.
            queue = self.queues.pop(link.agent_type, None)
            while queue:
                p = queue.popleft()
                p.queued = False
                if p.iid in self.pending:
                    self._no_instance(p)

    def _has_ready(self, agent_type: str) -> bool:
        return any(link.state is LinkState.READY for link in self.pools.get(agent_type, ()))

    def _has_live(self, agent_type: str) -> bool:
        return bool(self.pools.get(agent_type))

    # --- requests from clients ------------------------------------------------------
    def submit(self, client: Connection, request: dict[str, Any]) -> None:
        """Accept a normalized request from ``client`` (its answer is written to ``client`` later)."""
        agent_type = request["agent"]
        client_id = request["id"]
        links = self.pools.get(agent_type)
        if links is None or self.draining:
            if self.draining:
                self._reject(
                    client,
                    client_id,
                    ErrorCode.SHUTTING_DOWN,
                    "The orchestrator is shutting down",
                    {"may_have_run": False},
                )
                return
            if agent_type not in self.known_types:
                self._reject(
                    client,
                    client_id,
                    ErrorCode.UNKNOWN_AGENT,
                    f"No agent type '{agent_type}'",
                    {"agent": agent_type, "agents": sorted(self.known_types | {"orchestrator"})},
                )
                return
        else:
            actions = links[0].actions if len(links) == 1 else self.actions_of(agent_type)
            if request["action"] not in actions:  # type: ignore[operator]
                self._reject(
                    client,
                    client_id,
                    ErrorCode.UNKNOWN_ACTION,
                    f"Agent '{agent_type}' has no action '{request['action']}'",
                    {"agent": agent_type, "actions": sorted(actions or ())},
                )
                return
        iid = next(self._ids)
        now = self._clock()
        timeout_ms = request.get("timeout_ms")
        deadline = now + (timeout_ms / 1000 if timeout_ms else self._default_timeout_s)
        request["id"] = iid
        p = Pending(iid, client, client_id, _dumps(client_id, default=str), request, deadline, now)
        self.pending[iid] = p
        if deadline < self._next_deadline:
            self._next_deadline = deadline
        client.outstanding += 1
        stats = self.stats
        stats.requests += 1
        by_type = stats.requests_by_type
        by_type[agent_type] = by_type.get(agent_type, 0) + 1
        self._route(p)

    def _route(self, p: Pending) -> None:
        link = self._pick(p.agent_type)
        if link is not None:
            self._send(link, p)
        elif self._has_ready(p.agent_type):
            queue = self.queues.get(p.agent_type)
            if queue is None:
                queue = self.queues[p.agent_type] = deque()
            if len(queue) >= self.options.max_queue_per_type:
                self._fail(
                    p,
                    ErrorCode.OVERLOADED,
                    f"Agent '{p.agent_type}' is overloaded: every instance is at its in-flight limit "
                    "and the queue is full; retry later",
                    {"agent": p.agent_type, "queued": len(queue)},
                )
                return
            p.queued = True
            queue.append(p)
        else:
            self._no_instance(p)

    def _pick(self, agent_type: str) -> AgentLink | None:
        links = self.pools.get(agent_type)
        if not links:
            return None
        if len(links) == 1:  # the common case: one instance, with room or not
            link = links[0]
            if link.state is _READY and len(link.inflight) < link.max_inflight:
                return link
            return None
        # Least outstanding first; the rotating start spreads ties across instances.
        self._rr += 1
        n = len(links)
        best: AgentLink | None = None
        best_load = 0
        for k in range(n):
            link = links[(self._rr + k) % n]
            load = len(link.inflight)
            if link.state is _READY and load < link.max_inflight and (best is None or load < best_load):
                best, best_load = link, load
        return best

    def _send(self, link: AgentLink, p: Pending) -> None:
        p.link = link
        p.attempts += 1
        link.inflight[p.iid] = p
        payload = p.payload
        if payload is None:
            payload = p.payload = _dumps(p.request, default=str, option=_APPEND_NEWLINE)
        link.conn.write(payload)

    def _no_instance(self, p: Pending) -> None:
        if self.fallback is not None:
            self.stats.fallback_requests += 1
            p.via_redis = True
            task = asyncio.get_running_loop().create_task(self._via_fallback(p))
            self._fallback_tasks.add(task)
            task.add_done_callback(self._fallback_tasks.discard)
            return
        self._fail(
            p,
            ErrorCode.AGENT_UNAVAILABLE,
            f"No instance of agent '{p.agent_type}' is connected",
            {"agent": p.agent_type},
        )

    async def _via_fallback(self, p: Pending) -> None:
        timeout_s = max(0.001, p.deadline - self._clock())
        try:
            # Cancelled only by close() at shutdown, after abandon_fallback withdrew the unread entries and
            # fail_all answered this request: its one answer is written already, nothing is lost or doubled.
            frame = await self.fallback.submit(p.request, timeout_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the contract says never raises; stay safe anyway
            logger.exception("Redis fallback failed")
            frame = protocol.error(p.iid, ErrorCode.AGENT_UNAVAILABLE, f"Redis fallback failed: {exc}")
        if self.pending.get(p.iid) is p:
            # "transport" says where the answer came from: the fallback marks what went through Redis,
            # and an AGENT_UNAVAILABLE it gives without sending anything carries none.
            self._finish_frame(p, frame, frame.get("transport"))

    def _pump_queue(self, agent_type: str) -> None:
        queue = self.queues.get(agent_type)
        while queue:
            link = self._pick(agent_type)
            if link is None:
                return
            p = queue.popleft()
            p.queued = False
            if self.pending.get(p.iid) is p:
                self._send(link, p)

    # --- answers from agents -----------------------------------------------------------
    def on_agent_response_line(self, link: AgentLink, line: bytes) -> bool:
        """Relay an answer in our runtime's byte layout without decoding it; False if the layout differs."""
        if not line.startswith(_ID_PREFIX):
            return False
        end = line.find(b",", 6)
        if end < 0:
            return False
        try:
            iid = int(line[6:end])
        except ValueError:
            return False
        p = link.inflight.pop(iid, None)
        link.handled += 1
        if p is None:
            if iid in self.pending:
                return False  # not ours on this link: let the slow path sort it out
            self.stats.late_responses += 1
            return True
        del self.pending[iid]
        # Our runtime writes "status" right after the id: an O(1) check instead of a scan of the frame.
        if not line.startswith(_SUCCESS_MARK, end + 1) and _ERROR_MARK in line:
            self._count_error_line(line)
        self._complete(p, b"".join((_ID_PREFIX, p.client_id_json, _TRANSPORT_SOCKET, line[end:], b"\n")))
        if self.queues.get(link.agent_type):
            self._pump_queue(link.agent_type)
        return True

    def on_agent_response_frame(self, link: AgentLink, frame: dict[str, Any]) -> None:
        rid = frame.get("id")
        p = link.inflight.pop(rid, None) if isinstance(rid, int) else None
        link.handled += 1
        if p is None or self.pending.get(p.iid) is not p:
            self.stats.late_responses += 1
            return
        self._finish_frame(p, frame, "socket")
        if self.queues.get(link.agent_type):
            self._pump_queue(link.agent_type)

    def _count_error_line(self, line: bytes) -> None:
        try:
            code = orjson.loads(line)["error"]["code"]
        except Exception:
            code = "UNKNOWN"
        self.stats.record_error(str(code))

    def _finish_frame(self, p: Pending, frame: dict[str, Any], transport: str | None) -> None:
        """Answer ``p`` with a decoded frame (slow path: fallback, unusual layouts)."""
        self.pending.pop(p.iid, None)
        if p.link is not None:
            p.link.inflight.pop(p.iid, None)
        out = dict(frame)
        out["id"] = p.client_id
        if transport is not None:
            out["transport"] = transport
        if out.get("status") == "error":
            err = out.get("error")
            self.stats.record_error(str(err.get("code") if isinstance(err, dict) else "UNKNOWN"))
        self._complete(p, protocol.encode(out))

    def _complete(self, p: Pending, data: bytes) -> None:
        stats = self.stats
        stats.responses += 1
        by_type = stats.responses_by_type
        by_type[p.agent_type] = by_type.get(p.agent_type, 0) + 1
        # Stats.record_latency, inlined (once per response).
        i = stats._lat_i
        stats._lat[i] = self._clock() - p.started
        stats._lat_i = (i + 1) % LATENCY_WINDOW
        if stats._lat_n < LATENCY_WINDOW:
            stats._lat_n += 1
        client = p.client
        client.outstanding -= 1
        client.write(data)

    # --- errors --------------------------------------------------------------------------
    def _reject(
        self, client: Connection, client_id: Any, code: ErrorCode, message: str, details: dict[str, Any] | None = None
    ) -> None:
        """An error for a request that never entered the pending table."""
        self.stats.record_error(code)
        client.write(protocol.encode(protocol.error(client_id, code, message, details)))

    def _fail(self, p: Pending, code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> None:
        self.pending.pop(p.iid, None)
        if p.link is not None:
            p.link.inflight.pop(p.iid, None)
            p.link = None
        self.stats.record_error(code)
        self._complete(p, protocol.encode(protocol.error(p.client_id, code, message, details)))

    # --- time ------------------------------------------------------------------------------
    def expire(self, now: float | None = None) -> int:
        """Answer TIMEOUT for every request past its deadline; returns how many."""
        now = self._clock() if now is None else now
        if now < self._next_deadline:
            return 0
        expired = []
        next_deadline = float("inf")
        for p in self.pending.values():
            deadline = p.deadline + FALLBACK_SLACK_S if p.via_redis else p.deadline
            if deadline <= now:
                expired.append(p)
            elif deadline < next_deadline:
                next_deadline = deadline
        self._next_deadline = next_deadline
        self._unqueue([p for p in expired if p.queued])
        for p in expired:
            where = f"instance {p.link.instance_id}" if p.link is not None else "Redis" if p.via_redis else "the queue"
            self._fail(
                p,
                ErrorCode.TIMEOUT,
                f"Agent '{p.agent_type}' did not answer in time (waiting in {where})",
                {
                    "agent": p.agent_type,
                    "timeout_ms": round((p.deadline - p.started) * 1000),
                    "may_have_run": self._may_have_run(p),
                },
            )
        return len(expired)

    @staticmethod
    def _may_have_run(p: Pending) -> bool:
        """False only when the request certainly never reached an agent (it was still queued here)."""
        return p.link is not None or p.via_redis or p.attempts > 0

    def _unqueue(self, leaving: list[Pending]) -> None:
        """Take requests out of their types' queues at once, so their places are free for the next ones.

        One pass per affected queue (not ``deque.remove`` per request): thousands of queued requests
        timing out in the same tick stay linear.
        """
        if not leaving:
            return
        gone = {p.iid for p in leaving}
        for agent_type in {p.agent_type for p in leaving}:
            queue = self.queues.get(agent_type)
            if queue:
                self.queues[agent_type] = deque(q for q in queue if q.iid not in gone)
        for p in leaving:
            p.queued = False

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is pending (for the shutdown drain; polled, to keep the hot path free of it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True

    def fail_all(self, code: ErrorCode, message: str) -> None:
        for p in list(self.pending.values()):
            self._fail(p, code, message, {"agent": p.agent_type, "may_have_run": self._may_have_run(p)})
        self.queues.clear()

    async def abandon_fallback(self, code: ErrorCode, message: str, timeout: float) -> None:
        """Have the Redis fallback answer every request it holds (withdrawing unread entries), then wait."""
        if self.fallback is None or not self._fallback_tasks:
            return
        for p in list(self.pending.values()):
            if p.via_redis:
                self.fallback.abandon(p.iid, code, message)
        # asyncio.wait does not cancel on timeout: a task still running answers later or via fail_all.
        await asyncio.wait(set(self._fallback_tasks), timeout=timeout)

    async def close(self) -> None:
        for task in list(self._fallback_tasks):
            task.cancel()
        if self._fallback_tasks:
            await asyncio.gather(*self._fallback_tasks, return_exceptions=True)

    def client_lost(self, client: Connection) -> None:
        """A client went away: what an agent has already runs (its answer is dropped on arrival); what
        no agent has yet never runs: its queued requests leave the queue, its unread Redis entries are
        withdrawn."""
        if client.outstanding == 0:
            return
        mine = [p for p in self.pending.values() if p.client is client]
        queued = [p for p in mine if p.queued]
        self._unqueue(queued)
        for p in queued:
            del self.pending[p.iid]
            client.outstanding -= 1
        for p in mine:
            if p.via_redis and self.fallback is not None:
                self.fallback.abandon(p.iid, ErrorCode.AGENT_DISCONNECTED, "The caller's connection is gone")

    # --- introspection -------------------------------------------------------------------------
    def describe_types(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for agent_type in sorted(self.known_types | set(self.pools)):
            links = self.pools.get(agent_type, [])
            out[agent_type] = {
                "instances": [link.describe() for link in links],
                "inflight": sum(len(link.inflight) for link in links),
                "queued": len(self.queues.get(agent_type, ())),
                "actions": sorted(self.actions_of(agent_type) or ()),
            }
        return out
