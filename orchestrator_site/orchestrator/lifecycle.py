"""The one owner of an agent link's lifecycle (the state machine is in link.py).

Every transition goes through ``LinkLifecycle.change_state``, which also does
what the new state implies, in one place: READY sends the welcome, joins the
type's pool, publishes ``agent_connected`` and records the instance; DRAINING
publishes ``agent_draining``; CLOSED leaves the pool (answering or re-sending
what was in flight), publishes ``agent_disconnected`` and records it. So no
transition can forget its event (the model: supervisor's ``change_state``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from agents import protocol
from agents.protocol import ErrorCode, Hello, ProtocolError
from orchestrator_site.orchestrator import registry_sync
from orchestrator_site.orchestrator.link import AgentLink, LinkState

if TYPE_CHECKING:
    from agents.auth import HelloAuth
    from orchestrator_site.orchestrator.dispatch import Dispatcher
    from orchestrator_site.orchestrator.events import EventHub
    from orchestrator_site.orchestrator.registry_sync import DbWorker

logger = logging.getLogger(__name__)

_READY = LinkState.READY
_DRAINING = LinkState.DRAINING
_CLOSED = LinkState.CLOSED


class LinkLifecycle:
    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        events: EventHub,
        db: DbWorker,
        auth: HelloAuth,
        max_inflight_cap: int,
        record_instances: bool,
        orchestrator_pid: int,
        stopping: Callable[[], bool],
    ) -> None:
        self.dispatcher = dispatcher
        self.events = events
        self.db = db
        self.auth = auth
        self.max_inflight_cap = max_inflight_cap
        self.record_instances = record_instances
        self.orchestrator_pid = orchestrator_pid
        self.stopping = stopping  # the orchestrator is shutting down: it records the disconnections itself

    # --- what a connection reports -------------------------------------------------------
    def hello(self, link: AgentLink, frame: dict[str, object]) -> None:
        """A hello on ``link`` (CONNECTING): READY and welcomed, or CLOSED and ProtocolError raised."""
        self.change_state(link, LinkState.HELLO)
        try:
            hello = self._accept(link, frame)
        except ProtocolError:
            self.change_state(link, _CLOSED)
            raise
        link.instance_id = hello.instance
        link.pid = hello.pid
        link.actions = hello.actions
        link.idempotent_actions = hello.idempotent_actions
        link.max_inflight = min(hello.max_inflight, self.max_inflight_cap)
        self.change_state(link, _READY)

    def draining(self, link: AgentLink) -> None:
        """The agent said it is going away: it keeps what it has and receives nothing new."""
        if link.state is _READY:
            self.change_state(link, _DRAINING)

    def lost(self, link: AgentLink) -> None:
        """The link's connection is gone."""
        if link.state is not _CLOSED:
            self.change_state(link, _CLOSED)

    # --- the one place a state changes ---------------------------------------------------------
    def change_state(self, link: AgentLink, new: LinkState) -> None:
        old = link.state
        link.transition(new)
        if new is _READY:
            self._ready(link)
        elif new is _DRAINING:
            self.events.publish("agent_draining", agent=link.agent_type, instance=link.instance_id)
        elif new is _CLOSED and old in (_READY, _DRAINING):
            self._closed(link, said_goodbye=old is _DRAINING)

    def _accept(self, link: AgentLink, frame: dict[str, object]) -> Hello:
        # The type's token (agents/auth.py: SHA-256 digests compared in constant time; a refusal is logged),
        # else the global ORCHESTRATOR_AGENT_TOKEN, else open.
        peer = f"instance {str(frame.get('instance'))[:100]!r}"
        if not self.auth.allows(link.agent_type, frame.get("token"), peer=peer):
            raise ProtocolError(ErrorCode.UNAUTHORIZED, "Missing or wrong agent token in hello")
        hello = protocol.parse_hello(frame, agent_type=link.agent_type)
        if any(other.instance_id == hello.instance for other in self.dispatcher.pools.get(link.agent_type, ())):
            raise ProtocolError(
                ErrorCode.CONFLICT, f"Instance {hello.instance!r} of {link.agent_type!r} is already connected"
            )
        return hello

    def _ready(self, link: AgentLink) -> None:
        # The welcome is queued before the pool can hand the link a request, so it is the agent's first frame.
        link.conn.write_frame(
            {
                "type": "welcome",
                "instance": link.instance_id,
                "max_inflight": link.max_inflight,
                "orchestrator_pid": self.orchestrator_pid,
                "timestamp": protocol.utc_timestamp(),
            }
        )
        self.dispatcher.add_link(link)
        self.events.publish("agent_connected", agent=link.agent_type, instance=link.instance_id, pid=link.pid)
        if self.record_instances:
            self.db.submit(
                registry_sync.agent_instance_connected,
                agent_type=link.agent_type,
                instance_id=link.instance_id,
                pid=link.pid,
            )

    def _closed(self, link: AgentLink, *, said_goodbye: bool) -> None:
        self.dispatcher.link_lost(link, said_goodbye=said_goodbye)
        self.events.publish("agent_disconnected", agent=link.agent_type, instance=link.instance_id, pid=link.pid)
        if self.record_instances and not self.stopping():
            self.db.submit(
                registry_sync.agent_instance_disconnected, agent_type=link.agent_type, instance_id=link.instance_id
            )
