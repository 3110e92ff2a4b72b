"""Observed time to first byte per provider: p50 over a recent window, kept in this process.

Each process publishes its p50 to the provider's row (``observed_ttfb_ms``, shown in the admin and used
by the latency factor when the operator enables it) with the settlements, at most every TTFB_PUBLISH_S
seconds per provider: the row holds the latest process's view, which on one machine is the same traffic.
"""

from __future__ import annotations

import statistics
import time
from collections import deque

from llmgateway import conf

_windows: dict[str, deque[float]] = {}
_published: dict[str, float] = {}


def record(provider_key: str, ttfb_ms: float) -> None:
    window = _windows.get(provider_key)
    if window is None:
        window = _windows[provider_key] = deque(maxlen=int(conf.get("TTFB_WINDOW")))
    window.append(ttfb_ms)


def p50(provider_key: str) -> float | None:
    window = _windows.get(provider_key)
    return round(statistics.median(window), 3) if window else None


def due(provider_key: str, *, now: float | None = None) -> float | None:
    """The p50 to publish now, or None when it was published recently (or nothing was observed)."""
    now = time.monotonic() if now is None else now
    if now - _published.get(provider_key, -1e18) < float(conf.get("TTFB_PUBLISH_S")):
        return None
    value = p50(provider_key)
    if value is not None:
        _published[provider_key] = now
    return value


def reset() -> None:
    _windows.clear()
    _published.clear()
