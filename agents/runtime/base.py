"""The Agent base class: an action table plus one ``handle`` entry point.

Transports (the orchestrator socket, Redis streams, legacy pub/sub) decode a
frame, call ``Agent.handle`` and write back what it returns; they never look
inside a request. Handlers therefore behave identically on every transport.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, ClassVar

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from agents.runtime.actions import ActionSpec, Field, action, collect_actions
from agents.runtime.db_hygiene import run_with_db_hygiene

logger = logging.getLogger(__name__)
_monotonic = time.monotonic

# Calls another agent through the orchestrator: (agent, action, data, timeout_ms) -> response frame.
AgentCaller = Callable[[str, str, dict[str, Any], float | None], Awaitable[dict[str, Any]]]


@dataclass
class RequestContext:
    """What a handler may know about the request besides its data."""

    request_id: Any
    agent: Agent
    transport: str = "socket"
    interface: str | None = None
    idempotency_key: str | None = None
    received_at: float = field(default_factory=time.monotonic)

    async def call_agent(
        self, agent: str, action_name: str, data: dict[str, Any], timeout_ms: float | None = None
    ) -> dict[str, Any]:
        """Ask another agent type (through the orchestrator) and return its response frame."""
        caller = self.agent.caller
        if caller is None:
            raise ProtocolError(ErrorCode.AGENT_UNAVAILABLE, f"No route to agent '{agent}' from this process")
        return await caller(agent, action_name, data, timeout_ms)


def close_worker_connections(executor: ThreadPoolExecutor, timeout_s: float = 10.0) -> None:
    """Close the database connection of every worker thread of ``executor``.

    Each worker thread holds its own connection; left open, a PostgreSQL
    session outlives the agent's work (and blocks dropping a test database).
    One job per thread: each closes its connections and then waits at a
    barrier, which keeps that thread busy so the next job lands on another.
    Blocking (up to ``timeout_s``): call it from a thread, not the event loop.
    """
    count = len(executor._threads)  # noqa: SLF001 - no public way to count them
    if not count:
        return
    barrier = threading.Barrier(count)

    def close() -> None:
        from django.db import connections

        connections.close_all()
        try:
            barrier.wait(timeout_s)
        except threading.BrokenBarrierError:
            pass  # a thread was busy with a long job; its connection closes with the process

    wait([executor.submit(close) for _ in range(count)], timeout=timeout_s + 1)


class Agent:
    """Subclass, set ``agent_type`` and add ``@action`` methods."""

    agent_type: ClassVar[str] = ""
    actions: ClassVar[dict[str, ActionSpec]] = {}
    # Threads for blocking (ORM) handlers; concurrency beyond this queues.
    blocking_workers: ClassVar[int] = 8

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.actions = collect_actions(cls)

    def __init__(self, instance_id: str, config: dict[str, Any] | None = None):
        self.instance_id = instance_id
        self.config: dict[str, Any] = dict(config or {})
        self.caller: AgentCaller | None = None
        self._executor: ThreadPoolExecutor | None = None

    # --- lifecycle hooks -------------------------------------------------------
    async def setup(self) -> None:
        """Called once before any transport starts (load config, warm caches)."""

    async def teardown(self) -> None:
        """Called once after every transport has stopped."""
        if self._executor is not None:
            await asyncio.to_thread(close_worker_connections, self._executor)
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    # --- dispatch ---------------------------------------------------------------
    async def handle(self, request: dict[str, Any], *, transport: str = "socket") -> dict[str, Any]:
        """Answer one normalized request (see protocol.normalize_request). Never raises."""
        started = time.perf_counter()
        rid = request.get("id")
        try:
            spec = self.actions.get(request.get("action", ""))
            if spec is None:
                raise ProtocolError(
                    ErrorCode.UNKNOWN_ACTION,
                    f"Agent '{self.agent_type}' has no action '{request.get('action')}'",
                    {"agent": self.agent_type, "actions": sorted(self.actions)},
                )
            data = spec.clean(request.get("data") or {})
            # Positional arguments and an explicit received_at: about half the cost of keywords plus
            # the default_factory call, paid on every request (order: request_id, agent, transport,
            # interface, idempotency_key, received_at).
            ctx = RequestContext(
                rid, self, transport, request.get("interface"), request.get("idempotency_key"), _monotonic()
            )
            if spec.blocking:
                result = await self.run_blocking(spec.func, self, data, ctx)
            else:
                result = await spec.func(self, data, ctx)
        except ProtocolError as exc:
            return exc.to_frame(rid)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Action %s.%s failed", self.agent_type, request.get("action"))
            return protocol.error(rid, ErrorCode.INTERNAL_ERROR, "The agent failed to handle the request")
        return protocol.success(rid, result, processing_time_ms=(time.perf_counter() - started) * 1000)

    async def run_blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.blocking_workers, thread_name_prefix=f"{self.agent_type}-worker")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, run_with_db_hygiene, func, *args)

    def describe_actions(self) -> list[dict[str, Any]]:
        return [spec.describe() for spec in self.actions.values()]

    def idempotent_actions(self) -> list[str]:
        return sorted(name for name, spec in self.actions.items() if spec.idempotent)

    # --- built-in actions ---------------------------------------------------------
    @action(idempotent=True, description="Answers with the data it was sent.")
    async def echo(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return data

    @action(idempotent=True, description="This agent's actions, their inputs and which are idempotent.")
    async def describe(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {"agent": self.agent_type, "instance": self.instance_id, "actions": self.describe_actions()}


__all__ = ["Agent", "RequestContext", "Field", "action", "ProtocolError", "ErrorCode"]
