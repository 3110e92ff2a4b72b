"""Event fan-out: subscribers on the client socket get every event frame.

An event is encoded once and the same bytes are queued on every subscriber's
connection (each connection coalesces its own writes).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from agents import protocol

logger = logging.getLogger(__name__)


class Writer(Protocol):
    def write(self, data: bytes) -> None: ...


class EventHub:
    def __init__(self) -> None:
        self.subscribers: set[Writer] = set()
        self.published = 0

    def subscribe(self, conn: Writer) -> None:
        self.subscribers.add(conn)

    def unsubscribe(self, conn: Writer) -> None:
        self.subscribers.discard(conn)

    def publish(self, event: str, **fields: Any) -> dict[str, Any]:
        frame: dict[str, Any] = {"type": "event", "event": event, "timestamp": protocol.utc_timestamp()}
        frame.update(fields)
        self.published += 1
        if self.subscribers:
            data = protocol.encode(frame)
            for conn in tuple(self.subscribers):
                conn.write(data)
        logger.debug("event %s %s", event, fields)
        return frame
