"""The orchestrator's lifecycle: start, listeners, background loops, drain, stop.

Start: take the directory lock, check the directory, load the enabled agent
types (worker thread), bind one listener per type plus the client socket.
Background: a tick (timeouts, agent pings), the agent-type refresh, the
provider monitor; every task is kept and cancelled at shutdown.
Stop (SIGTERM/SIGINT): close the listeners, answer new requests with
SHUTTING_DOWN, wait for in-flight requests up to the drain timeout, answer
the rest, close every connection, remove our socket files, release the lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from time import perf_counter
from typing import Any

from agents import protocol
from agents.auth import HelloAuth, agent_token_hashes
from agents.protocol import ErrorCode
from orchestrator_common.paths import socket_path
from orchestrator_site.orchestrator import registry_sync
from orchestrator_site.orchestrator.builtin import Builtin
from orchestrator_site.orchestrator.config import OrchestratorOptions
from orchestrator_site.orchestrator.connection import Connection, ConnectionContext
from orchestrator_site.orchestrator.dispatch import Dispatcher
from orchestrator_site.orchestrator.events import EventHub
from orchestrator_site.orchestrator.lifecycle import LinkLifecycle
from orchestrator_site.orchestrator.memory import MemoryReturn
from orchestrator_site.orchestrator.monitor import monitor_loop
from orchestrator_site.orchestrator.sockets import (
    DirectoryLock,
    FileIdentity,
    bind_unix_socket,
    prepare_socket_dir,
    remove_socket_file,
)
from orchestrator_site.orchestrator.stats import Stats

logger = logging.getLogger(__name__)

TICK_S = 0.05


class Listener:
    """A bound socket file and the asyncio server accepting on it."""

    def __init__(self, path: Path, server: asyncio.AbstractServer, identity: FileIdentity) -> None:
        self.path = path
        self.server = server
        self.identity = identity

    def close(self) -> None:
        self.server.close()

    def remove_file(self) -> None:
        remove_socket_file(self.path, self.identity)


def _load_fallback(options: OrchestratorOptions) -> tuple[Any, str]:
    if not options.redis_fallback:
        return None, "disabled"
    # A plain import: a bug inside the fallback must stop the orchestrator, not switch the fallback off.
    from orchestrator_site.orchestrator.redis_fallback import RedisFallback

    return RedisFallback(redis_url=options.redis_url, prefix=options.redis_prefix), "redis"


class OrchestratorServer:
    def __init__(self, options: OrchestratorOptions, *, clock: Callable[[], float] = perf_counter) -> None:
        self.options = options
        self.pid = os.getpid()
        self.stats = Stats()
        self.events = EventHub()
        self.fallback, self.fallback_state = _load_fallback(options)
        self.dispatcher = Dispatcher(options, self.stats, self.events, self.fallback, clock=clock)
        self.memory = MemoryReturn()  # gives memory back after an overload burst (memory.py)
        self.builtin = Builtin(self)
        # Hello tokens: the type's own (hash from the database) or the older global one.
        self.auth = HelloAuth(options.agent_token)
        self.db = registry_sync.DbWorker()
        self.listeners: dict[str | None, Listener] = {}  # agent type (None: client socket) -> listener
        self.connections: set[Connection] = set()
        self._lock = DirectoryLock(options.socket_dir)
        self._tasks: list[asyncio.Task[Any]] = []
        self._tick_handle: asyncio.TimerHandle | None = None
        self._stop = asyncio.Event()
        self.links = LinkLifecycle(
            dispatcher=self.dispatcher,
            events=self.events,
            db=self.db,
            auth=self.auth,
            max_inflight_cap=options.max_inflight_per_instance,
            record_instances=options.record_instances,
            orchestrator_pid=self.pid,
            stopping=self._stop.is_set,
        )
        self.context = ConnectionContext(
            dispatcher=self.dispatcher,
            builtin=self.builtin,
            links=self.links,
            stats=self.stats,
            events=self.events,
            connections=self.connections,
            max_frame_bytes=options.max_frame_bytes,
            stopping=self._stop.is_set,
        )
        self._last_ping = 0.0
        self._last_idle_check = 0.0

    # --- start -------------------------------------------------------------------------
    async def start(self, types: list[str] | None = None) -> None:
        """Bind and serve. ``types`` (default: the enabled AgentType rows) names the agent-type sockets."""
        prepare_socket_dir(self.options.socket_dir)
        self._lock.acquire()
        try:
            if types is None:
                types = await self.db.call(registry_sync.agent_types_enabled)
                self.auth.hashes = await self.db.call(agent_token_hashes)
            if self.options.record_instances:
                await self.db.call(registry_sync.agent_instances_mark_socket_disconnected)
            if self.fallback is not None:
                await self.fallback.start()
            await self._listen(None)
            for agent_type in types:
                await self._listen(agent_type)
        except BaseException:
            await self._close_listeners()
            self._lock.release()
            raise
        self.dispatcher.known_types.update(types)
        loop = asyncio.get_running_loop()
        self._tick_handle = loop.call_later(TICK_S, self._tick)
        if self.options.types_refresh_s:
            self._tasks.append(loop.create_task(self._refresh_types_loop(), name="refresh-types"))
        if self.options.monitor_interval_s:
            self._tasks.append(
                loop.create_task(monitor_loop(self.options.monitor_interval_s, self.events), name="monitor")
            )
        logger.info("Orchestrator %s serving %s (types: %s)", self.pid, self.options.socket_dir, ", ".join(types))

    async def _listen(self, agent_type: str | None) -> None:
        if agent_type is None:
            path = socket_path("client", self.options.socket_dir)
        else:
            path = socket_path("agent", self.options.socket_dir, agent_type)
        sock, identity = bind_unix_socket(path)
        loop = asyncio.get_running_loop()
        # Created without serving (this await never suspends) and recorded before the one await that may
        # (asyncio's start_serving yields once): a cancellation there (shutdown cancelling the types refresh)
        # leaves a recorded listener, which shutdown closes and whose file it removes, not a stray socket.
        server = await loop.create_unix_server(
            lambda: Connection(self.context, agent_type), sock=sock, start_serving=False
        )
        self.listeners[agent_type] = Listener(path, server, identity)
        await server.start_serving()

    async def _refresh_types_loop(self) -> None:
        """Re-read the enabled agent types so types added in the admin get a socket without a restart."""
        while True:
            await asyncio.sleep(self.options.types_refresh_s)
            try:
                # Reads only: cancelled (at shutdown) mid-call, the worker thread's result is dropped.
                types = set(await self.db.call(registry_sync.agent_types_enabled))
                self.auth.hashes = await self.db.call(agent_token_hashes)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("Could not re-read agent types; keeping the current ones")
                continue
            await self.apply_types(types)

    async def apply_types(self, types: set[str]) -> None:
        current = {t for t in self.listeners if t is not None}
        for agent_type in sorted(types - current):
            try:
                await self._listen(agent_type)
            except Exception:
                logger.exception("Could not open a socket for new agent type %s", agent_type)
                continue
            self.dispatcher.known_types.add(agent_type)
            self.events.publish("agent_type_added", agent=agent_type)
        for agent_type in sorted(current - types):
            listener = self.listeners.pop(agent_type)
            listener.close()
            listener.remove_file()
            self.dispatcher.known_types.discard(agent_type)
            self.events.publish("agent_type_removed", agent=agent_type)

    # --- connections --------------------------------------------------------------------------
    def client_count(self) -> int:
        return sum(1 for c in self.connections if c.link is None)

    # --- periodic work ------------------------------------------------------------------------
    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        self.dispatcher.expire()
        self.memory.observe(len(self.dispatcher.pending))
        now = loop.time()
        interval = self.options.ping_interval_s
        if interval and now - self._last_ping >= interval:
            self._last_ping = now
            self._ping_agents(now, interval)
        if now - self._last_idle_check >= 0.25:
            self._last_idle_check = now
            self._close_idle_clients(now)
        self._tick_handle = loop.call_later(TICK_S, self._tick)

    def _ping_agents(self, now: float, interval: float) -> None:
        ping = protocol.encode(protocol.PING)
        for conn in list(self.connections):
            link = conn.link
            if link is None:
                continue
            if now - link.last_seen > 3 * interval:
                logger.warning(
                    "Agent %s/%s silent for %.0f s; dropping it",
                    link.agent_type,
                    link.instance_id,
                    now - link.last_seen,
                )
                conn.close()
            else:
                conn.write(ping)

    def _close_idle_clients(self, now: float) -> None:
        on_client_socket = self.options.client_idle_timeout_s
        on_type_socket = self.options.type_client_idle_timeout_s
        silent = self.options.client_silent_timeout_s
        if not (on_client_socket or on_type_socket or silent):
            return
        subscribers = self.events.subscribers
        for conn in list(self.connections):
            if conn in subscribers:
                continue  # a subscriber waits for events: never closed for quietness
            idle = on_client_socket if conn.socket_type is None else on_type_socket
            if idle and conn.is_idle(now, idle):
                conn.say_bye("idle")
            elif silent and conn.is_silent(now, silent):
                # Hardening: connected and never sent a byte; the slot is held for nothing.
                conn.say_bye("silent")

    # --- stop ------------------------------------------------------------------------------------
    def request_stop(self) -> None:
        self._stop.set()

    async def serve_until_stopped(self) -> None:
        await self._stop.wait()
        await self.shutdown()

    async def shutdown(self) -> None:
        logger.info(
            "Orchestrator stopping: draining %d in-flight request(s) (up to %.1f s)",
            len(self.dispatcher.pending),
            self.options.drain_timeout_s,
        )
        self._stop.set()
        for listener in self.listeners.values():
            listener.close()
        self.dispatcher.draining = True
        # Only waits: a cancellation here (the process is going anyway) leaves no request half-handled; the
        # clients see their connection close and none is answered twice.
        await self.dispatcher.wait_idle(self.options.drain_timeout_s)
        # Requests waiting in Redis streams first: unread entries are withdrawn (they never run later).
        await self.dispatcher.abandon_fallback(
            ErrorCode.SHUTTING_DOWN, "The orchestrator stopped before the agent answered", timeout=2.0
        )
        self.dispatcher.fail_all(ErrorCode.SHUTTING_DOWN, "The orchestrator stopped before the agent answered")
        if self._tick_handle is not None:
            self._tick_handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.dispatcher.close()
        for conn in list(self.connections):
            conn.flush_now()
            conn.close()
        # Let the transports deliver their last bytes and run connection_lost.
        for _ in range(50):
            if not self.connections:
                break
            await asyncio.sleep(0.01)
        if self.fallback is not None:
            try:
                await self.fallback.close()
            except Exception:
                logger.exception("Closing the Redis fallback failed")
        if self.options.record_instances:
            try:
                await self.db.call(registry_sync.agent_instances_mark_socket_disconnected)
            except Exception:
                logger.exception("Could not record agent disconnections")
        await self.db.close()
        await self._close_listeners()
        self._lock.release()
        logger.info("Orchestrator stopped")

    async def _close_listeners(self) -> None:
        for listener in self.listeners.values():
            listener.close()
            listener.remove_file()
        self.listeners.clear()


async def run(options: OrchestratorOptions) -> None:
    """Start, serve until SIGTERM/SIGINT, drain and stop."""
    server = OrchestratorServer(options)
    await server.start()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.request_stop)
    try:
        await server.serve_until_stopped()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
