"""Runs one agent process: build the agent, start its transports, stop cleanly on SIGTERM.

    run_agent naming --instance AGT-NAMING-1 --transport both

The agent's class comes from ``agents.registry`` (or ``--class``), its
configuration from ``AgentType.config`` in the shared database. ``handle`` is
the one entry point every transport calls; it wraps ``Agent.handle`` so
cross-cutting behaviour (idempotency) applies to socket and Redis alike.
SIGTERM: transports stop taking work and drain up to the timeout, then
``agent.teardown()``, exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket as _socket
from collections.abc import Coroutine
from typing import Any

from agents.runtime.idempotency import wrap_handle
from agents.runtime.transport import CallingTransport, Handle, Transport

logger = logging.getLogger(__name__)

TRANSPORT_CHOICES = ("socket", "redis", "both")


def default_instance_id(agent_type: str) -> str:
    return f"AGT-{agent_type.upper()}-{_socket.gethostname().split('.')[0]}-{os.getpid()}"


def load_agent_config(agent_type: str) -> dict[str, Any]:
    """The type's AgentType.config (sync ORM; called before the event loop starts)."""
    from agents.models import AgentType

    row = AgentType.objects.filter(name=agent_type).first()
    if row is None:
        logger.warning("No AgentType row named %r; running with an empty configuration", agent_type)
        return {}
    if not row.enabled:
        logger.warning("Agent type %r is disabled; the orchestrator has no socket for it", agent_type)
    return dict(row.config or {})


def build_agent(agent_type: str, instance_id: str, *, class_path: str | None = None) -> Any:
    from django.utils.module_loading import import_string

    from agents.registry import agent_class

    cls: Any = import_string(class_path) if class_path else agent_class(agent_type)
    if cls.agent_type and cls.agent_type != agent_type:
        raise ValueError(f"{cls.__name__} serves agent type {cls.agent_type!r}, not {agent_type!r}")
    agent = cls(instance_id, load_agent_config(agent_type))
    agent.agent_type = agent_type  # a generic class (agent_type "") takes the type it runs as
    return agent


def build_handle(agent: Any) -> Handle:
    """The function every transport calls with a normalized request; never raises."""

    def handle(request: dict[str, Any], transport: str) -> Coroutine[Any, Any, dict[str, Any]]:
        # A plain function returning Agent.handle's coroutine: an ``async def`` wrapper that only
        # awaits would add a coroutine (about 1 us) to every request for nothing.
        return agent.handle(request, transport=transport)

    return wrap_handle(agent, handle)


def build_transports(agent: Any, handle: Handle, *, instance_id: str, transport: str) -> list[Transport]:
    from django.conf import settings

    transports: list[Transport] = []
    if transport in ("socket", "both"):
        from agents.auth import agent_token_from_environment
        from agents.runtime.socket_transport import SocketTransport

        transports.append(
            SocketTransport(
                agent,
                handle,
                instance_id=instance_id,
                socket_dir=settings.ORCHESTRATOR["SOCKET_DIR"],
                token=agent_token_from_environment(agent.agent_type),
                max_inflight=settings.AGENTS["MAX_INFLIGHT"],
                retry_interval_s=settings.AGENTS["RETRY_INTERVAL_S"],
                max_frame_bytes=settings.ORCHESTRATOR["MAX_FRAME_BYTES"],
            )
        )
    if transport in ("redis", "both"):
        from agents.runtime.redis_transport import RedisTransport

        transports.append(
            RedisTransport(
                agent, handle, instance_id=instance_id, redis_url=settings.REDIS_URL, prefix=settings.REDIS_KEY_PREFIX
            )
        )
    return transports


async def _heartbeat_loop(agent: Any, transports: list[Transport], interval_s: float) -> None:
    """Tell the manager agent we are alive; failures are ignored (the manager may be absent)."""
    names = [t.name for t in transports]
    while True:
        await asyncio.sleep(interval_s)
        if agent.caller is None:
            continue
        try:
            await agent.caller(
                "manager",
                "heartbeat",
                {
                    "agent_type": agent.agent_type,
                    "instance": agent.instance_id,
                    "pid": os.getpid(),
                    "transports": names,
                },
                5000,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("Heartbeat failed: %s", exc)


async def serve(
    agent: Any,
    transports: list[Transport],
    *,
    drain_timeout_s: float,
    heartbeat_s: float,
    stop: asyncio.Event | None = None,
) -> None:
    """Run the agent until ``stop`` is set (SIGTERM/SIGINT when not given), then drain and tear down."""
    loop = asyncio.get_running_loop()
    own_signals = stop is None
    stop = stop or asyncio.Event()
    if own_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    await agent.setup()
    for transport in transports:
        if isinstance(transport, CallingTransport):
            agent.caller = transport.call
    started: list[Transport] = []
    heartbeat: asyncio.Task[None] | None = None
    try:
        for transport in transports:
            await transport.start()
            started.append(transport)
        if heartbeat_s > 0:
            heartbeat = loop.create_task(_heartbeat_loop(agent, transports, heartbeat_s), name="heartbeat")
        logger.info(
            "Agent %s/%s running (transports: %s)",
            agent.agent_type,
            agent.instance_id,
            ", ".join(t.name for t in transports) or "none",
        )
        await stop.wait()
    finally:
        logger.info("Agent %s/%s stopping (drain up to %.1f s)", agent.agent_type, agent.instance_id, drain_timeout_s)
        if heartbeat is not None:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        await asyncio.gather(*(t.stop(drain_timeout_s) for t in started), return_exceptions=True)
        agent.caller = None
        await agent.teardown()
        if own_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        logger.info("Agent %s/%s stopped", agent.agent_type, agent.instance_id)


def run_agent(
    agent_type: str, *, instance_id: str | None = None, transport: str = "both", class_path: str | None = None
) -> int:
    """Entry point of ``manage.py run_agent``; returns the exit code."""
    if transport not in TRANSPORT_CHOICES:
        raise ValueError(f"transport must be one of {TRANSPORT_CHOICES}")
    instance_id = instance_id or default_instance_id(agent_type)
    agent = build_agent(agent_type, instance_id, class_path=class_path)
    handle = build_handle(agent)
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass

    from django.conf import settings

    async def main() -> None:
        transports = build_transports(agent, handle, instance_id=instance_id, transport=transport)
        # The idempotency wrapper owns a Redis client: open it for the agent's lifetime.
        if hasattr(handle, "start"):
            await handle.start()
        try:
            await serve(
                agent,
                transports,
                drain_timeout_s=settings.AGENTS["DRAIN_TIMEOUT_S"],
                heartbeat_s=settings.AGENTS["HEARTBEAT_INTERVAL_S"],
            )
        finally:
            if hasattr(handle, "close"):
                await handle.close()

    from orchestrator_common.gc_tuning import gc_tune_for_serving

    gc_tune_for_serving()  # fewer, cheaper GC passes on the hot path (see the module)
    asyncio.run(main())
    return 0
