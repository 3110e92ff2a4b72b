"""One connected agent instance as the orchestrator sees it, and its lifecycle.

State machine (transitions only through ``LinkLifecycle.change_state`` in
lifecycle.py, which does what each new state implies; ``AgentLink.transition``
only checks and logs the move):

    CONNECTING --hello--> HELLO --accepted--> READY --"draining" frame--> DRAINING
         |                  |                   |                            |
         +------------------+-------------------+------- connection lost ----+--> CLOSED

Only READY links receive new requests; DRAINING links finish what they have.
"""

from __future__ import annotations

import logging
import time
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator_site.orchestrator.connection import Connection
    from orchestrator_site.orchestrator.pending import Pending

logger = logging.getLogger(__name__)


class LinkState(StrEnum):
    CONNECTING = "CONNECTING"
    HELLO = "HELLO"
    READY = "READY"
    DRAINING = "DRAINING"
    CLOSED = "CLOSED"


_ALLOWED: dict[LinkState, frozenset[LinkState]] = {
    LinkState.CONNECTING: frozenset({LinkState.HELLO, LinkState.CLOSED}),
    LinkState.HELLO: frozenset({LinkState.READY, LinkState.CLOSED}),
    LinkState.READY: frozenset({LinkState.DRAINING, LinkState.CLOSED}),
    LinkState.DRAINING: frozenset({LinkState.CLOSED}),
    LinkState.CLOSED: frozenset(),
}


class InvalidTransition(RuntimeError):
    pass


class AgentLink:
    __slots__ = (
        "conn",
        "agent_type",
        "instance_id",
        "pid",
        "actions",
        "idempotent_actions",
        "max_inflight",
        "inflight",
        "state",
        "connected_at",
        "handled",
        "last_seen",
    )

    def __init__(self, conn: Connection, agent_type: str) -> None:
        self.conn = conn
        self.agent_type = agent_type
        self.instance_id = ""
        self.pid: int | None = None
        self.actions: frozenset[str] = frozenset()
        self.idempotent_actions: frozenset[str] = frozenset()
        self.max_inflight = 1
        # internal id -> Pending, for requests sent to this instance and not yet answered.
        self.inflight: dict[int, Pending] = {}
        self.state = LinkState.CONNECTING
        self.connected_at = time.time()
        self.handled = 0
        self.last_seen = time.monotonic()

    def transition(self, new: LinkState) -> None:
        if new not in _ALLOWED[self.state]:
            raise InvalidTransition(f"{self.agent_type}/{self.instance_id}: {self.state} -> {new} is not allowed")
        logger.info("agent %s/%s: %s -> %s", self.agent_type, self.instance_id or "?", self.state, new)
        self.state = new

    def describe(self) -> dict[str, Any]:
        return {
            "instance": self.instance_id,
            "pid": self.pid,
            "state": str(self.state),
            "inflight": len(self.inflight),
            "max_inflight": self.max_inflight,
            "handled": self.handled,
            "connected_at": self.connected_at,
            "idempotent_actions": sorted(self.idempotent_actions),
        }
