"""The router's settings, read when needed (never at import) with defaults.

``settings.LLMROUTER`` (a dict, filled from the environment in settings.py)
may set any of these keys; ``checks.py`` reports bad values at start.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Whether anonymous callers may POST /api/route-llm (rate limits are the web layer's job).
    "ROUTE_ALLOW_ANONYMOUS": True,
    # Serve POST /api/route-llm through the async fast path in front of Django.
    "FAST_PATH": True,
    # Threads running route_request for the fast path; 0 picks 1. Every routing
    # transaction locks the same budget rows, so a second thread cannot route in
    # parallel: it only splits the waiting requests into smaller batches (on
    # PostgreSQL 4 threads served 690-770 req/s against 950-1,150 for one,
    # bench/router.md). More can help only a deployment whose threads wait on
    # something other than that lock.
    "ROUTE_WORKERS": 0,
    # The monitor: health-check timeout and failures before a provider is unhealthy.
    "HEALTH_CHECK_TIMEOUT_S": 2.0,
    "UNHEALTHY_AFTER_FAILURES": 3,
    # /health asks the orchestrator for its agent count with this timeout.
    "HEALTH_ORCHESTRATOR_TIMEOUT_S": 0.5,
    # The gateway's circuit breaker: consecutive failures that open it, the cool-down before a probe, and how
    # long a probe's claim lasts should its process never report back.
    "BREAKER_FAILURES": 3,
    "BREAKER_COOLDOWN_S": 30.0,
    "BREAKER_PROBE_TIMEOUT_S": 120.0,
    # The share (0..1) of each active budget's window that anonymous callers may reserve between them: a
    # hard cap of its own, so anonymous traffic can never take the money callers with tokens need.
    "ANONYMOUS_BUDGET_SHARE": 0.05,
}


def get(name: str) -> Any:
    configured = getattr(settings, "LLMROUTER", None) or {}
    return configured.get(name, DEFAULTS[name])


def route_workers() -> int:
    workers = int(get("ROUTE_WORKERS"))
    return workers if workers > 0 else 1
