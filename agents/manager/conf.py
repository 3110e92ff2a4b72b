"""The manager's settings: AgentType(manager).config over environment defaults.

Read when the agent starts (and by the admin per page view), never at import.

config keys (all optional):
  stale_after_s        silence after which an instance counts as stale
                       (default: 3 x AGENT_HEARTBEAT_INTERVAL_S, i.e. 45 s)
  supervisor_socket    supervisord's control socket
                       (default: <socket dir>/supervisor.sock, or SUPERVISOR_SOCKET)
  supervisor_timeout_s timeout of one XML-RPC call (default 10)
  controllable_groups  supervisor groups start/stop/restart may touch (default ["agents"])
  control_tokens       ["sha256:<hex>", ...] (see tokens.py; manage.py manager_token)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_HEARTBEAT_INTERVAL_S = 15.0
STALE_MISSED_BEATS = 3


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        return default


@dataclass(frozen=True)
class ManagerSettings:
    stale_after_s: float
    supervisor_socket: Path
    supervisor_timeout_s: float
    controllable_groups: tuple[str, ...]


def manager_settings(config: dict[str, Any] | None = None) -> ManagerSettings:
    from django.conf import settings

    config = config or {}
    interval = _env_float("AGENT_HEARTBEAT_INTERVAL_S", DEFAULT_HEARTBEAT_INTERVAL_S)
    stale = config.get("stale_after_s") or _env_float("MANAGER_STALE_AFTER_S", STALE_MISSED_BEATS * interval)
    socket_path = (config.get("supervisor_socket") or os.environ.get("SUPERVISOR_SOCKET")
                   or Path(settings.ORCHESTRATOR["SOCKET_DIR"]) / "supervisor.sock")
    groups = config.get("controllable_groups") or ["agents"]
    return ManagerSettings(
        stale_after_s=float(stale),
        supervisor_socket=Path(socket_path),
        supervisor_timeout_s=float(config.get("supervisor_timeout_s") or 10.0),
        controllable_groups=tuple(str(g) for g in groups),
    )


def manager_config_load() -> dict[str, Any]:
    """The manager type's config from the database ({} when the row is missing)."""
    from agents.models import AgentType

    row = AgentType.objects.filter(name="manager").values_list("config", flat=True).first()
    return dict(row or {})
