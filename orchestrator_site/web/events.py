"""Orchestrator events -> the channel layer group every WebSocket subscriber joins.

One relay task per web process (per event loop) holds its own subscribed
connection to the orchestrator and ``group_send``s each event frame to
``EVENTS_GROUP``. With ``channels_redis`` the group spans every daphne
process, so each process that has subscribers runs a relay and a subscriber
may be offered the same event by several relays: every event carries an
``event_id`` (a digest of the orchestrator's frame) and consumers drop ids
they have just seen. That way no event is lost while one process restarts,
at the price of N copies on the layer for N processes.

The relay runs only while this process has subscribers: the first
subscriber starts it, the last one to leave stops it (and awaits its end).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from typing import Any

import orjson
from channels.layers import get_channel_layer
from django.conf import settings

from orchestrator_site.web import webmetrics
from orchestrator_site.web.gateway import client_socket_path

logger = logging.getLogger(__name__)

EVENTS_GROUP = "orchestrator.events"
MESSAGE_TYPE = "orchestrator.event"  # -> consumer method orchestrator_event
_BACKOFF_S = (0.2, 0.5, 1.0, 2.0, 5.0)


def event_id(frame: dict[str, Any]) -> str:
    return hashlib.blake2b(orjson.dumps(frame, option=orjson.OPT_SORT_KEYS, default=str), digest_size=12).hexdigest()


class EventRelay:
    def __init__(self) -> None:
        self._users = 0
        self._task: asyncio.Task[None] | None = None
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        # Set while the current relay is subscribed. One per relay task: a cancelled relay's flag must not
        # tell the next one (a new connection, never subscribed) that it is subscribed already.
        self.connected: asyncio.Event | None = None
        self.relayed = 0

    def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop() is not loop:
            # First use, or a new loop (tests): a task of a dead loop is gone.
            self._users, self._task, self._loop = 0, None, weakref.ref(loop)
        self._users += 1
        if self._task is None or self._task.done():
            self.connected = asyncio.Event()
            self._task = loop.create_task(self._run(self.connected), name="web-event-relay")

    async def release(self) -> None:
        self._users = max(0, self._users - 1)
        if self._users == 0 and self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                logger.exception("event relay ended with an error")

    async def _run(self, connected: asyncio.Event) -> None:
        from agents.client import AsyncClient

        layer = get_channel_layer()
        client = AsyncClient(str(client_socket_path()))
        attempt = 0
        try:
            while True:
                try:
                    await self._relay_until_quiet(client, layer, connected)
                    attempt = 0
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # orchestrator down or restarting
                    connected.clear()
                    logger.info("event relay: orchestrator not reachable (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(_BACKOFF_S[min(attempt, len(_BACKOFF_S) - 1)])
                    attempt += 1
        finally:
            connected.clear()
            await client.close()

    async def _relay_until_quiet(self, client: Any, layer: Any, connected: asyncio.Event) -> None:
        """Forward events until none came for a while, then check the connection.

        ``events()`` alone would wait forever on a connection the orchestrator
        closed (a restart): a cheap request every quiet interval makes the client
        notice, reconnect and re-subscribe (it re-sends ``subscribe`` itself on
        reconnect). Events published while no connection exists are lost.
        """
        if not connected.is_set():
            response = await client.subscribe()
            if response.get("status") != "success":
                raise ConnectionError(f"subscribe refused: {response.get('error')}")
            connected.set()
        quiet_s = float(settings.WEB.get("EVENT_LIVENESS_S", 5.0))
        while True:
            try:
                frame = await client.next_event(timeout=quiet_s)
            except TimeoutError:
                response = await client.request("orchestrator", "echo", {}, timeout_ms=5000)
                if response.get("status") != "success":
                    raise ConnectionError("the orchestrator did not answer the liveness check") from None
                continue
            await self._forward(layer, frame)

    async def _forward(self, layer: Any, frame: dict[str, Any]) -> None:
        if not isinstance(frame, dict) or frame.get("type") != "event":
            return
        name = str(frame.get("event", ""))
        await layer.group_send(EVENTS_GROUP, {"type": MESSAGE_TYPE, "event_id": event_id(frame), "frame": frame})
        self.relayed += 1
        webmetrics.EVENTS_RELAYED.labels(name[:60] or "_unnamed").inc()


relay = EventRelay()
