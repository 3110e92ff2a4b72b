"""Counters and latency samples of the orchestrator, and their Prometheus text.

Updated on the hot path, so recording is a few integer additions and one
array store; percentiles are computed only when someone asks (status, metrics).
"""

from __future__ import annotations

import time
from array import array
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

# Latency samples kept for percentiles: the most recent N round trips.
LATENCY_WINDOW = 8192


class Stats:
    __slots__ = (
        "started",
        "requests",
        "responses",
        "errors",
        "errors_by_code",
        "requests_by_type",
        "responses_by_type",
        "late_responses",
        "resent",
        "fallback_requests",
        "_lat",
        "_lat_i",
        "_lat_n",
        "connections_total",
    )

    def __init__(self) -> None:
        self.started = time.time()
        self.requests = 0
        self.responses = 0
        self.errors = 0
        self.errors_by_code: Counter[str] = Counter()
        # Plain dicts, not Counters: ``counter[k] += 1`` on a dict subclass costs about 0.3 us (no
        # specialised bytecode for subclasses), paid twice per relayed request.
        self.requests_by_type: dict[str, int] = {}
        self.responses_by_type: dict[str, int] = {}
        self.late_responses = 0  # answers that arrived after their request timed out
        self.resent = 0  # idempotent requests re-sent after their agent died
        self.fallback_requests = 0
        self.connections_total = 0
        self._lat = array("d", bytes(8 * LATENCY_WINDOW))
        self._lat_i = 0
        self._lat_n = 0

    def record_latency(self, seconds: float) -> None:
        i = self._lat_i
        self._lat[i] = seconds
        self._lat_i = (i + 1) % LATENCY_WINDOW
        if self._lat_n < LATENCY_WINDOW:
            self._lat_n += 1

    def record_error(self, code: str) -> None:
        self.errors += 1
        self.errors_by_code[str(code)] += 1

    def latency_ms(self) -> dict[str, Any]:
        n = self._lat_n
        if not n:
            return {"samples": 0, "p50": None, "p90": None, "p99": None, "max": None}
        samples = sorted(self._lat[:n])

        def pct(p: float) -> float:
            return round(samples[min(n - 1, int(p * n))] * 1000, 3)

        return {"samples": n, "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": round(samples[-1] * 1000, 3)}

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "responses": self.responses,
            "errors": self.errors,
            "late_responses": self.late_responses,
            "resent": self.resent,
            "fallback_requests": self.fallback_requests,
            "connections": self.connections_total,
            "requests_by_type": dict(self.requests_by_type),
            "responses_by_type": dict(self.responses_by_type),
        }


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def prometheus_text(stats: Stats, status: dict[str, Any]) -> str:
    """The Prometheus exposition text (version 0.0.4) of the orchestrator's counters."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: Sequence[tuple[Mapping[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")

    metric(
        "orchestrator_uptime_seconds",
        "gauge",
        "Seconds since the orchestrator started.",
        [({}, round(time.time() - stats.started, 3))],
    )
    metric(
        "orchestrator_requests_total",
        "counter",
        "Requests accepted for dispatch, by agent type.",
        [({"agent": t}, n) for t, n in sorted(stats.requests_by_type.items())] or [({}, 0)],
    )
    metric(
        "orchestrator_responses_total",
        "counter",
        "Responses relayed to clients, by agent type.",
        [({"agent": t}, n) for t, n in sorted(stats.responses_by_type.items())] or [({}, 0)],
    )
    metric(
        "orchestrator_errors_total",
        "counter",
        "Error frames sent, by error code.",
        [({"code": c}, n) for c, n in sorted(stats.errors_by_code.items())] or [({}, 0)],
    )
    metric(
        "orchestrator_resent_total", "counter", "Idempotent requests re-sent after an agent died.", [({}, stats.resent)]
    )
    metric(
        "orchestrator_fallback_requests_total",
        "counter",
        "Requests sent through the Redis fallback.",
        [({}, stats.fallback_requests)],
    )
    instances = []
    inflight = []
    for agent_type, info in sorted(status.get("types", {}).items()):
        ready = sum(1 for i in info["instances"] if i["state"] == "READY")
        instances.append(({"agent": agent_type}, ready))
        inflight.append(({"agent": agent_type}, info["inflight"]))
    metric("orchestrator_instances", "gauge", "Connected agent instances in state READY, by type.", instances)
    metric("orchestrator_inflight", "gauge", "Requests in flight, by agent type.", inflight)
    lat = status.get("latency_ms", {})
    quantiles = [
        ({"quantile": q}, (lat.get(key) or 0) / 1000) for q, key in (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))
    ]
    metric(
        "orchestrator_round_trip_seconds",
        "summary",
        "Round trip through the orchestrator (recent window), seconds.",
        quantiles,
    )
    return "\n".join(lines) + "\n"
