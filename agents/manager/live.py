"""Fetching the live sources of the agents picture (supervisor, orchestrator).

Each fetch returns (value or None, source info): a missing source is part of
the picture ("supervisor not running"), never an error of the whole request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agents.manager.conf import ManagerSettings
from agents.manager.selectors import collisions_find, instances_overview, processes_outside_agents
from agents.manager.supervisor import ProcessInfo, SupervisorClient, SupervisorUnavailable

ORCHESTRATOR_STATUS_TIMEOUT_MS = 3000


def supervisor_snapshot(ms: ManagerSettings) -> tuple[list[ProcessInfo] | None, dict[str, Any]]:
    """Blocking: call from a worker thread."""
    client = SupervisorClient(ms.supervisor_socket, timeout=ms.supervisor_timeout_s)
    try:
        return client.all_processes(), {"available": True, "socket": client.socket_path}
    except SupervisorUnavailable as exc:
        return None, {"available": False, "socket": client.socket_path, "error": str(exc)}


def status_from_frame(
    frame: dict[str, Any] | None, error: str | None = None
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The orchestrator's status data out of its response frame."""
    if frame is not None and frame.get("status") == "success" and isinstance(frame.get("data"), dict):
        data = frame["data"]
        return data, {"available": True, "pid": data.get("pid"), "uptime_s": data.get("uptime_s")}
    if frame is not None and error is None:
        error = (frame.get("error") or {}).get("message", "unexpected answer")
    return None, {"available": False, "error": error or "no answer"}


def orchestrator_status_sync(
    timeout_ms: int = ORCHESTRATOR_STATUS_TIMEOUT_MS,
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Blocking: ask the orchestrator for its status over the client socket (for the web process)."""
    try:
        from agents.client import Client

        with Client() as client:
            frame = client.request("orchestrator", "status", {}, timeout_ms=timeout_ms)
    except Exception as exc:  # not running, socket missing, client library absent: all "unavailable"
        return status_from_frame(None, f"{type(exc).__name__}: {exc}")
    return status_from_frame(frame)


def agents_picture(
    *,
    ms: ManagerSettings,
    now: datetime,
    status: dict[str, Any] | None,
    status_info: dict[str, Any],
    processes: list[ProcessInfo] | None,
    supervisor_info: dict[str, Any],
    agent_type: str | None = None,
) -> dict[str, Any]:
    """The answer of list_agents / agent_status and the admin page (sync ORM)."""
    return {
        "types": instances_overview(
            now=now,
            stale_after_s=ms.stale_after_s,
            orchestrator_status=status,
            processes=processes,
            agent_type=agent_type,
        ),
        "processes": processes_outside_agents(processes or []) if agent_type is None else [],
        "collisions": [
            c
            for c in collisions_find(now=now, stale_after_s=ms.stale_after_s, orchestrator_status=status)
            if agent_type is None or c["agent_type"] == agent_type
        ],
        "supervisor": supervisor_info,
        "orchestrator": status_info,
        "stale_after_s": ms.stale_after_s,
        "generated_at": now.isoformat().replace("+00:00", "Z"),
    }
