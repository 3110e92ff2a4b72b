"""GET /metrics: Prometheus text from three sources, joined at scrape time.

* the orchestrator's own counters (its ``metrics`` action): it sees every
  agent request whatever client sent it, so totals, instances and in-flight
  counts are counted once, in one process, and never lost between processes;
* this web process's registry (``webmetrics``): what came in over HTTP and
  WebSocket, including requests refused before the orchestrator;
* gauges read from the database now: routing decisions by provider, spend and
  remaining money per budget window, provider health, the gateway's attempts
  (by provider and outcome, with their tokens and cost), each provider's
  circuit breaker and observed time to first byte (the database is shared,
  so any web process gives the same answer, and no restart loses a count).

Several daphne processes each expose their own ``web_*`` series; scrape each
(or sum them by ``instance`` in Prometheus). No multiprocess directory is needed.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from llmrouter import breaker as breaker_module
from orchestrator_site.web import webmetrics
from orchestrator_site.web.gateway import gateway
from orchestrator_site.web.principals import AuthenticationFailed, principal_for_token, token_from_headers

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _DatabaseCollector:
    """Collects the DB-derived families once (used with a throwaway registry)."""

    def collect(self) -> Any:
        yield from database_families()


def database_families() -> list[Any]:
    from llmrouter import selectors
    from llmrouter.models import Provider, RouteLog

    decisions = CounterMetricFamily(
        "llm_route_decisions",
        "Routing decisions logged, by chosen provider and outcome",
        labels=["provider", "outcome"],
    )
    for row in (
        RouteLog.objects.values("provider_key", "outcome").annotate(n=Count("id")).order_by("provider_key", "outcome")
    ):
        decisions.add_metric([row["provider_key"] or "none", row["outcome"]], row["n"])

    spent = GaugeMetricFamily(
        "llm_budget_spent_dollars", "Money charged in the budget's current window", labels=["budget", "period"]
    )
    remaining = GaugeMetricFamily(
        "llm_budget_remaining_dollars", "Budget amount minus spend in the current window", labels=["budget", "period"]
    )
    amount = GaugeMetricFamily("llm_budget_amount_dollars", "Budget amount per window", labels=["budget", "period"])
    for status in selectors.budgets_status():
        labels = [status["name"], status["period"]]
        spent.add_metric(labels, status["spent"])
        remaining.add_metric(labels, status["remaining"])
        amount.add_metric(labels, status["amount"])

    healthy = GaugeMetricFamily(
        "llm_provider_healthy", "1 when the provider is healthy, 0 otherwise", labels=["provider"]
    )
    enabled = GaugeMetricFamily("llm_provider_enabled", "1 when the provider is enabled", labels=["provider"])
    failures = GaugeMetricFamily(
        "llm_provider_consecutive_failures", "Failed health checks in a row", labels=["provider"]
    )
    breaker = GaugeMetricFamily(
        "llm_provider_breaker_state",
        "The gateway's circuit breaker of the provider: 1 for its current state (closed, open, half_open), 0 else",
        labels=["provider", "state"],
    )
    breaker_failures = GaugeMetricFamily(
        "llm_provider_breaker_failures", "Gateway calls to the provider that failed in a row", labels=["provider"]
    )
    ttfb = GaugeMetricFamily(
        "llm_provider_observed_ttfb_seconds",
        "The gateway's observed time to first byte of the provider, p50 over its recent window",
        labels=["provider"],
    )
    for p in selectors.provider_health():
        healthy.add_metric([p["key"]], 1.0 if p["health"] == Provider.Health.HEALTHY else 0.0)
        enabled.add_metric([p["key"]], 1.0 if p["enabled"] else 0.0)
        failures.add_metric([p["key"]], p["consecutive_failures"])
        for state in (breaker_module.CLOSED, breaker_module.OPEN, breaker_module.HALF_OPEN):
            breaker.add_metric([p["key"], state], 1.0 if p["breaker"] == state else 0.0)
        breaker_failures.add_metric([p["key"]], p["breaker_failures"])
        if p["observed_ttfb_ms"] is not None:
            ttfb.add_metric([p["key"]], p["observed_ttfb_ms"] / 1000)
    return [
        decisions,
        spent,
        remaining,
        amount,
        healthy,
        enabled,
        failures,
        breaker,
        breaker_failures,
        ttfb,
        *gateway_families(),
    ]


def gateway_families() -> list[Any]:
    """The gateway's attempts (/v1/), from the route log's attempt records."""
    from llmrouter import selectors

    labels = ["provider", "outcome"]
    attempts = CounterMetricFamily(
        "llm_gateway_attempts", "Gateway calls to providers (attempts), by provider and outcome", labels=labels
    )
    streamed = CounterMetricFamily(
        "llm_gateway_streamed_attempts", "Gateway attempts that were streamed, by provider and outcome", labels=labels
    )
    tokens = CounterMetricFamily(
        "llm_gateway_tokens",
        "Tokens of gateway attempts as settled (reported by the provider, or estimated), by provider and kind",
        labels=["provider", "kind"],
    )
    cost = CounterMetricFamily(
        "llm_gateway_cost_dollars", "Money settled for gateway attempts, by provider and outcome", labels=labels
    )
    by_provider: dict[str, list[int]] = {}
    for row in selectors.gateway_attempt_totals():
        key = [row["provider_key"], row["outcome"]]
        attempts.add_metric(key, row["attempts"])
        streamed.add_metric(key, row["streamed"])
        cost.add_metric(key, row["cost_nanos"] / 1e9)
        sums = by_provider.setdefault(row["provider_key"], [0, 0])
        sums[0] += row["prompt_tokens"]
        sums[1] += row["completion_tokens"]
    for provider, (prompt, completion) in by_provider.items():
        tokens.add_metric([provider, "prompt"], prompt)
        tokens.add_metric([provider, "completion"], completion)
    return [attempts, streamed, tokens, cost]


def database_text() -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_DatabaseCollector())
    return generate_latest(registry).decode()


async def orchestrator_text() -> str:
    frame = await gateway.request("orchestrator", "metrics", timeout_ms=5000)
    up = frame.get("status") == "success" and isinstance(frame.get("data"), dict)
    text = str(frame["data"].get("text", "")) if up else ""
    header = (
        "# HELP web_orchestrator_up 1 when the orchestrator answered this scrape\n"
        "# TYPE web_orchestrator_up gauge\n"
        f"web_orchestrator_up {1 if up else 0}\n"
    )
    return header + text


async def metrics_allowed(request: HttpRequest) -> bool:
    if settings.WEB["METRICS_PUBLIC"]:
        return True
    headers = [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in request.headers.items()]
    try:
        token = token_from_headers(headers)
    except AuthenticationFailed:
        return False
    if token is not None:
        try:
            await principal_for_token(token)
            return True
        except AuthenticationFailed:
            return False
    user = await request.auser()
    return bool(user.is_authenticated)


async def metrics(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return HttpResponse("method not allowed\n", status=405, content_type=CONTENT_TYPE, headers={"Allow": "GET"})
    if not await metrics_allowed(request):
        return HttpResponse(
            "authentication required: send 'Authorization: Bearer <token>'\n",
            status=401,
            content_type=CONTENT_TYPE,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    parts = [generate_latest(webmetrics.REGISTRY).decode(), await orchestrator_text()]
    try:
        parts.append(await sync_to_async(database_text)())
    except Exception:  # a broken query must not hide the rest of the metrics
        logger.exception("database metrics failed")
        parts.append("# database metrics unavailable\n")
    return HttpResponse("".join(p if p.endswith("\n") else p + "\n" for p in parts), content_type=CONTENT_TYPE)
