"""The manager's settings: AgentType(manager).config over settings.AGENTS (read from the environment there).

Read when the agent starts (and by the admin per page view), never at import.

config keys (all optional):
  stale_after_s        silence after which an instance counts as stale
                       (default: MANAGER_STALE_AFTER_S, else 3 x AGENT_HEARTBEAT_INTERVAL_S, i.e. 45 s)
  supervisor_socket    supervisord's control socket
                       (default: <socket dir>/supervisor.sock, or SUPERVISOR_SOCKET)
  supervisor_timeout_s timeout of one XML-RPC call (default 10)
  controllable_groups  supervisor groups start/stop/restart may touch (default ["agents"])
  control_tokens       ["sha256:<hex>", ...] (see tokens.py; manage.py manager_token)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator_common.paths import socket_path


@dataclass(frozen=True)
class ManagerSettings:
    stale_after_s: float
    supervisor_socket: Path
    supervisor_timeout_s: float
    controllable_groups: tuple[str, ...]


def manager_settings(config: dict[str, Any] | None = None) -> ManagerSettings:
    from django.conf import settings

    config = config or {}
    stale = config.get("stale_after_s") or settings.AGENTS["MANAGER_STALE_AFTER_S"]
    control = (
        config.get("supervisor_socket")
        or settings.AGENTS["SUPERVISOR_SOCKET"]
        or socket_path("supervisor", settings.ORCHESTRATOR["SOCKET_DIR"])
    )
    groups = config.get("controllable_groups") or ["agents"]
    return ManagerSettings(
        stale_after_s=float(stale),
        supervisor_socket=Path(control),
        supervisor_timeout_s=float(config.get("supervisor_timeout_s") or 10.0),
        controllable_groups=tuple(str(g) for g in groups),
    )


def manager_config_load() -> dict[str, Any]:
    """The manager type's config from the database ({} when the row is missing)."""
    from agents.models import AgentType

    row = AgentType.objects.filter(name="manager").values_list("config", flat=True).first()
    return dict(row or {})
