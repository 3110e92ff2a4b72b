"""This web process's own Prometheus counters (its registry, not the global one).

Agent traffic as a whole is counted by the orchestrator, which sees every
request whatever its client; these count what entered through this process
(HTTP and WebSocket), including requests refused before they reached the
orchestrator (auth, rate limit, bad input).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from agents.protocol import ErrorCode

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "web_requests_total",
    "Agent requests received by this web process",
    ["agent", "action", "transport", "outcome"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "web_request_seconds",
    "Time from receiving an agent request to answering it",
    ["agent", "transport"],
    registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WS_CONNECTIONS = Gauge("web_ws_connections", "Open WebSocket connections on this web process", registry=REGISTRY)
WS_SUBSCRIBERS = Gauge("web_ws_subscribers", "WebSocket connections subscribed to events", registry=REGISTRY)
EVENTS_RELAYED = Counter(
    "web_events_relayed_total",
    "Orchestrator events this process put on the channel layer",
    ["event"],
    registry=REGISTRY,
)
GATEWAY_CONNECTS = Counter(
    "web_gateway_connects_total",
    "Pooled orchestrator clients this process created (each reconnects by itself after a drop)",
    registry=REGISTRY,
)

# Error codes that mean the agent/action names were not real: never use those
# names as label values, or anyone could create unbounded metric series.
_UNTRUSTED_NAMES = {
    ErrorCode.UNKNOWN_AGENT,
    ErrorCode.UNKNOWN_ACTION,
    ErrorCode.INVALID_JSON,
    ErrorCode.INVALID_REQUEST,
    ErrorCode.MESSAGE_TOO_LARGE,
    ErrorCode.UNAUTHORIZED,
    ErrorCode.RATE_LIMITED,
}


def request_observe(*, agent: str | None, action: str | None, transport: str, outcome: str, seconds: float) -> None:
    if agent is None or action is None or outcome in _UNTRUSTED_NAMES:
        agent, action = "_invalid", "_invalid"
    REQUESTS.labels(agent, action, transport, outcome).inc()
    LATENCY.labels(agent, transport).observe(seconds)
