"""The router's settings: ``settings.LLMROUTER``, read when needed (never at import).

settings.py fills the dict from the environment and is the one home of each key's default and meaning;
``checks.py`` reports a missing, unknown or bad key at start.
"""

from __future__ import annotations

from orchestrator_common.settings_section import SettingsSection

# The keys settings.LLMROUTER holds (names only: their defaults are settings.py's), for checks.py.
KEYS = frozenset(
    {
        "ROUTE_ALLOW_ANONYMOUS",
        "FAST_PATH",
        "ROUTE_WORKERS",
        "HEALTH_CHECK_TIMEOUT_S",
        "UNHEALTHY_AFTER_FAILURES",
        "HEALTH_ORCHESTRATOR_TIMEOUT_S",
        "BREAKER_FAILURES",
        "BREAKER_COOLDOWN_S",
        "BREAKER_PROBE_TIMEOUT_S",
        "ANONYMOUS_BUDGET_SHARE",
    }
)

_LLMROUTER = SettingsSection("LLMROUTER")
# The bound method itself, not a wrapper: callers on the request path pay one call.
get = _LLMROUTER.get


def route_workers() -> int:
    workers = int(get("ROUTE_WORKERS"))
    return workers if workers > 0 else 1
