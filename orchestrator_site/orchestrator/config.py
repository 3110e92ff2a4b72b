"""The orchestrator's options: settings.ORCHESTRATOR plus command-line overrides.

The defaults below are the only ones: settings.py reads each ORCHESTRATOR_* variable over
``option_default`` (this module imports nothing of Django at import time, so settings.py may).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from agents.protocol import DEFAULT_MAX_FRAME_BYTES


@dataclass(frozen=True)
class OrchestratorOptions:
    socket_dir: Path
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    request_timeout_ms: int = 30_000
    max_inflight_per_instance: int = 1024
    max_queue_per_type: int = 10_000
    drain_timeout_s: float = 10.0
    monitor_interval_s: float | None = 300.0  # None: no monitor loop
    types_refresh_s: float = 30.0
    agent_token: str = ""
    redis_fallback: bool = True
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "orch:"
    # Liveness: agents are pinged this often and dropped after 3 silent intervals.
    ping_interval_s: float = 10.0
    # A client connection with nothing in flight, no subscription and no traffic for this long is
    # closed (after a {"type":"bye"} frame if it asked for one); 0 keeps them open. Clients of a type
    # socket are closed soon, so the seed's `echo ... | nc -U orchestrator-<type>.sock` exits by itself;
    # long-lived programs use orchestrator.sock, where connections stay open by default.
    client_idle_timeout_s: float = 0.0
    type_client_idle_timeout_s: float = 2.0
    # A client connection that has sent nothing at all this long after connecting is closed (0: never).
    client_silent_timeout_s: float = 10.0
    # Record hello/disconnect in AgentInstance (off for an orchestrator embedded without a database).
    record_instances: bool = True

    @classmethod
    def from_settings(cls, **overrides: Any) -> OrchestratorOptions:
        """settings.ORCHESTRATOR (keys are the upper-case field names), then ``overrides`` that are not None.

        A key settings.py does not set (TYPES_REFRESH_S, the client idle timeouts) keeps the field's
        default above, so each default is written once.
        """
        from django.conf import settings

        conf = settings.ORCHESTRATOR
        values: dict[str, Any] = {f.name: conf[f.name.upper()] for f in fields(cls) if f.name.upper() in conf}
        values["socket_dir"] = Path(conf["SOCKET_DIR"])
        values["agent_token"] = conf.get("AGENT_TOKEN", "")
        values.update(redis_url=settings.REDIS_URL, redis_prefix=settings.REDIS_KEY_PREFIX)
        options = cls(**values)
        return replace(options, **{k: v for k, v in overrides.items() if v is not None})


def option_default(name: str) -> Any:
    """The default of the option ``name`` (a field of OrchestratorOptions)."""
    return OrchestratorOptions.__dataclass_fields__[name].default
