"""System checks for the orchestrator's and the agents' settings (ids orchestrator.E0xx).

settings.py already refuses a malformed environment variable; these catch
values that parse but cannot work (a socket path AF_UNIX cannot bind, a
negative timeout), including ones set in a settings module or a test, on
every ``manage.py check`` and start. The socket of each agent type needs the
database: ``manage.py check --database default``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from orchestrator_common.paths import MAX_SOCKET_PATH, socket_path

# (key, minimum, whether the minimum itself is allowed): seconds and milliseconds.
_ORCHESTRATOR_TIMES = (
    ("REQUEST_TIMEOUT_MS", 0, False),
    ("DRAIN_TIMEOUT_S", 0, True),
    ("MONITOR_INTERVAL_S", 0, False),
    ("TYPES_REFRESH_S", 0, False),
    ("CLIENT_IDLE_TIMEOUT_S", 0, True),
    ("TYPE_CLIENT_IDLE_TIMEOUT_S", 0, True),
    ("CLIENT_SILENT_TIMEOUT_S", 0, True),
)
_ORCHESTRATOR_COUNTS = (("MAX_FRAME_BYTES", 1024), ("MAX_INFLIGHT_PER_INSTANCE", 1), ("MAX_QUEUE_PER_TYPE", 0))
_AGENT_TIMES = (
    ("RETRY_INTERVAL_S", 0, False),
    ("DRAIN_TIMEOUT_S", 0, True),
    ("HEARTBEAT_INTERVAL_S", 0, True),
    ("MANAGER_STALE_AFTER_S", 0, True),
)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _too_long(path: Path) -> bool:
    return len(str(path).encode()) > MAX_SOCKET_PATH


def _time_errors(name: str, conf: dict[str, Any], specs: tuple[tuple[str, float, bool], ...]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for key, minimum, inclusive in specs:
        if key not in conf:
            continue
        value = conf[key]
        if not _is_number(value) or value < minimum or (value == minimum and not inclusive):
            bound = ">= 0" if inclusive else "> 0"
            errors.append(
                Error(
                    f"{name}['{key}'] is {value!r}; it must be a number {bound}.",
                    hint="A timeout or interval cannot be negative.",
                    id="orchestrator.E003",
                )
            )
    return errors


@register()
def check_orchestrator_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    conf = getattr(settings, "ORCHESTRATOR", None)
    if not isinstance(conf, dict) or "SOCKET_DIR" not in conf:
        return [Error("settings.ORCHESTRATOR must be a dict with a SOCKET_DIR.", id="orchestrator.E001")]
    errors: list[CheckMessage] = []
    for kind in ("client", "supervisor"):
        path = socket_path(kind, conf["SOCKET_DIR"])
        if _too_long(path):
            errors.append(
                Error(
                    f"The socket path {path} is longer than {MAX_SOCKET_PATH} bytes (the AF_UNIX limit).",
                    hint="Set ORCHESTRATOR_SOCKET_DIR to a shorter directory.",
                    id="orchestrator.E002",
                )
            )
    errors += _time_errors("ORCHESTRATOR", conf, _ORCHESTRATOR_TIMES)
    for key, minimum in _ORCHESTRATOR_COUNTS:
        value = conf.get(key, minimum)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            errors.append(
                Error(
                    f"ORCHESTRATOR['{key}'] is {value!r}; it must be an integer >= {minimum}.", id="orchestrator.E004"
                )
            )
    agents = getattr(settings, "AGENTS", {})
    if not isinstance(agents, dict):
        return errors + [Error("settings.AGENTS must be a dict.", id="orchestrator.E005")]
    return errors + _time_errors("AGENTS", agents, _AGENT_TIMES)


@register(Tags.database)
def check_agent_socket_paths(app_configs: Any, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Every enabled agent type's socket fits AF_UNIX (only with ``check --database``)."""
    if not databases:
        return []
    conf = getattr(settings, "ORCHESTRATOR", None)
    if not isinstance(conf, dict) or "SOCKET_DIR" not in conf:
        return []  # E001 says so
    from django.db import DatabaseError

    from agents.models import AgentType

    try:
        names = list(AgentType.objects.filter(enabled=True).values_list("name", flat=True))
    except DatabaseError:
        return []  # not migrated yet: ``migrate`` runs the database checks before it creates the tables
    errors: list[CheckMessage] = []
    for name in names:
        path = socket_path("agent", conf["SOCKET_DIR"], name)
        if _too_long(path):
            errors.append(
                Error(
                    f"The socket path {path} of agent type {name!r} is longer than {MAX_SOCKET_PATH} "
                    "bytes (the AF_UNIX limit).",
                    hint="Set ORCHESTRATOR_SOCKET_DIR to a shorter directory or give the type a shorter name.",
                    id="orchestrator.E006",
                )
            )
    return errors
