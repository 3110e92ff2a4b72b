"""A request the orchestrator has accepted and not yet answered."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator_site.orchestrator.connection import Connection
    from orchestrator_site.orchestrator.link import AgentLink


class Pending:
    """One entry of the pending table, keyed by its internal id.

    ``client_id_json`` is the client's own id already encoded, so relaying the
    answer only splices bytes instead of re-encoding the agent's frame.
    """

    __slots__ = (
        "iid",
        "client",
        "client_id",
        "client_id_json",
        "agent_type",
        "action",
        "request",
        "payload",
        "link",
        "deadline",
        "started",
        "attempts",
        "queued",
        "via_redis",
    )

    def __init__(
        self,
        iid: int,
        client: Connection,
        client_id: Any,
        client_id_json: bytes,
        request: dict[str, Any],
        deadline: float,
        started: float,
    ) -> None:
        self.iid = iid
        self.client = client
        self.client_id = client_id
        self.client_id_json = client_id_json
        self.agent_type: str = request["agent"]
        self.action: str = request["action"]
        self.request = request  # normalized, "id" already the internal id
        self.payload: bytes | None = None  # encoded request, kept for an idempotent re-send
        self.link: AgentLink | None = None
        self.deadline = deadline
        self.started = started
        self.attempts = 0
        self.queued = False
        self.via_redis = False  # handed to the Redis fallback, which answers it (and its timeout) itself
