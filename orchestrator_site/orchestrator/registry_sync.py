"""The orchestrator's database work: agent types to serve, instances seen.

Sync ORM functions only; the server runs them in its one worker thread
(``DbWorker``) so the event loop never blocks on the database and writes
about one instance happen in the order they were observed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import close_old_connections, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)


def agent_types_enabled() -> list[str]:
    from agents.models import AgentType

    return list(AgentType.objects.filter(enabled=True).order_by("name").values_list("name", flat=True))


def agent_instance_connected(*, agent_type: str, instance_id: str, pid: int | None, transport: str = "socket") -> None:
    from agents.models import AgentInstance, AgentType

    kind = AgentType.objects.filter(name=agent_type).first()
    if kind is None:
        return
    now = timezone.now()
    with transaction.atomic():
        if pid is not None:
            # Another pid under this id is a new process (a restart): the row's started_at is
            # when it started, not when the id was first seen, and the old process's last
            # heartbeat is not this one's. The same pid again (a reconnect after an
            # orchestrator restart) keeps both.
            AgentInstance.objects.filter(agent_type=kind, instance_id=instance_id).exclude(pid=pid).update(
                started_at=now, last_heartbeat=None
            )
        AgentInstance.objects.update_or_create(
            agent_type=kind,
            instance_id=instance_id,
            defaults={
                "pid": pid,
                "transport": transport,
                "connected": True,
                "connected_at": now,
                "disconnected_at": None,
            },
            create_defaults={
                "pid": pid,
                "transport": transport,
                "connected": True,
                "connected_at": now,
                "started_at": now,
            },
        )


def agent_instance_disconnected(*, agent_type: str, instance_id: str) -> None:
    from agents.models import AgentInstance

    AgentInstance.objects.filter(agent_type__name=agent_type, instance_id=instance_id, transport="socket").update(
        connected=False, disconnected_at=timezone.now()
    )


def agent_instances_mark_socket_disconnected() -> int:
    """At start: nobody is connected to a fresh orchestrator, whatever the last one recorded."""
    from agents.models import AgentInstance

    return AgentInstance.objects.filter(connected=True, transport="socket").update(
        connected=False, disconnected_at=timezone.now()
    )


def _run(func: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    close_old_connections()
    try:
        return func(**kwargs)
    finally:
        close_old_connections()


class DbWorker:
    """One thread for the orchestrator's ORM calls; background writes are kept and awaited on close."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="orchestrator-db")
        self._background: set[asyncio.Future[Any]] = set()

    async def call(self, func: Callable[..., Any], **kwargs: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, _run, func, kwargs)

    def submit(self, func: Callable[..., Any], **kwargs: Any) -> None:
        """Run a write in the background; failures are logged, never raised into the hot path."""
        fut = asyncio.get_running_loop().run_in_executor(self._executor, _run, func, kwargs)
        self._background.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: asyncio.Future[Any]) -> None:
        self._background.discard(fut)
        if not fut.cancelled() and fut.exception() is not None:
            logger.warning("Database write failed: %s", fut.exception())

    async def close(self, timeout: float = 5.0) -> None:
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)
