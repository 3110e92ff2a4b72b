"""The built-in agent "orchestrator": status, metrics, subscribe, publish, echo, describe.

Answered by the orchestrator process itself, so they work with no agent
connected (``{"agent":"orchestrator","action":"status"}`` on the client socket).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from orchestrator_site.orchestrator.stats import prometheus_text

if TYPE_CHECKING:
    from orchestrator_site.orchestrator.connection import Connection
    from orchestrator_site.orchestrator.server import OrchestratorServer

ACTIONS: dict[str, str] = {
    "status": "Instances per type, in-flight and queued counts, totals, errors by code, latency percentiles.",
    "metrics": "data.text: the orchestrator's counters in Prometheus text format.",
    "subscribe": "This connection also receives event frames from now on.",
    "unsubscribe": "Stop receiving event frames.",
    "publish": "data: {event: name, ...}: fan an event out to every subscriber.",
    "echo": "Answers with the data it was sent (no agent involved).",
    "describe": "The orchestrator's own actions.",
}


class Builtin:
    def __init__(self, server: OrchestratorServer) -> None:
        self.server = server
        self._handlers: dict[str, Callable[[Connection, dict[str, Any]], Any]] = {
            "status": lambda conn, data: self.status(),
            "metrics": lambda conn, data: {
                "text": prometheus_text(server.stats, self.status()),
                "content_type": "text/plain; version=0.0.4",
            },
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "publish": self._publish,
            "echo": lambda conn, data: data,
            "describe": lambda conn, data: {
                "agent": "orchestrator",
                "actions": [{"name": k, "description": v, "idempotent": k != "publish"} for k, v in ACTIONS.items()],
            },
        }

    def handle(self, conn: Connection, request: dict[str, Any]) -> None:
        started = time.perf_counter()
        rid = request["id"]
        handler = self._handlers.get(request["action"])
        try:
            if handler is None:
                raise ProtocolError(
                    ErrorCode.UNKNOWN_ACTION,
                    f"Agent 'orchestrator' has no action '{request['action']}'",
                    {"agent": "orchestrator", "actions": sorted(ACTIONS)},
                )
            result = handler(conn, request["data"])
        except ProtocolError as exc:
            self.server.stats.record_error(exc.code)
            conn.write_frame(exc.to_frame(rid))
            return
        conn.write_frame(
            protocol.success(rid, result, processing_time_ms=(time.perf_counter() - started) * 1000, transport="socket")
        )

    def status(self) -> dict[str, Any]:
        server = self.server
        dispatcher = server.dispatcher
        types = dispatcher.describe_types()
        return {
            "pid": server.pid,
            "uptime_s": round(time.time() - server.stats.started, 3),
            "draining": dispatcher.draining,
            "socket_dir": str(server.options.socket_dir),
            "types": types,
            "inflight": len(dispatcher.pending),
            "queued": sum(t["queued"] for t in types.values()),
            "clients": server.client_count(),
            "subscribers": len(server.events.subscribers),
            "fallback": server.fallback_state,
            "totals": server.stats.snapshot(),
            "errors_by_code": dict(server.stats.errors_by_code),
            "latency_ms": server.stats.latency_ms(),
        }

    def _subscribe(self, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
        self.server.events.subscribe(conn)
        return {"subscribed": True}

    def _unsubscribe(self, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
        self.server.events.unsubscribe(conn)
        return {"subscribed": False}

    def _publish(self, conn: Connection, data: dict[str, Any]) -> dict[str, Any]:
        event = data.get("event")
        if not isinstance(event, str) or not event or len(event) > 100:
            raise ProtocolError(
                ErrorCode.VALIDATION_ERROR, "'event' must be a string of 1-100 characters", {"field": "event"}
            )
        fields = {k: v for k, v in data.items() if k not in ("event", "type", "timestamp")}
        self.server.events.publish(event, **fields)
        return {"published": event, "subscribers": len(self.server.events.subscribers)}
