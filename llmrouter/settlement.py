"""What a call really cost, and the gateway's settlements written in the routing transaction.

Prices are dollars per 1M tokens; money is integer nano-dollars, rounded up
(1 token at $1/1M = 1,000 nano-dollars exactly, so integer token counts at
prices with four decimals are exact: the rounding only matters for prices
with more digits than the model allows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from functools import lru_cache
from typing import Any

from llmrouter import breaker, conf, store
from llmrouter.models import LedgerEntry, Provider

_NANOS_PER_TOKEN_PER_DOLLAR_PER_1M = Decimal(1000)  # $/1M tokens -> nano-dollars per token

REPORTED = "reported"
ESTIMATED = "estimated"
NONE = "none"


@dataclass(frozen=True, slots=True)
class Prices:
    """A provider's prices when routed; input / output / cached default to the single price."""

    cost_per_1m: Decimal
    input_cost_per_1m: Decimal | None = None
    output_cost_per_1m: Decimal | None = None
    cached_input_cost_per_1m: Decimal | None = None

    @property
    def input(self) -> Decimal:
        return self.cost_per_1m if self.input_cost_per_1m is None else self.input_cost_per_1m

    @property
    def output(self) -> Decimal:
        return self.cost_per_1m if self.output_cost_per_1m is None else self.output_cost_per_1m

    @property
    def cached(self) -> Decimal:
        return self.input if self.cached_input_cost_per_1m is None else self.cached_input_cost_per_1m


@lru_cache(maxsize=4096)  # pure; a decision prices every candidate at the same token counts, batch after batch
def usage_cost_nanos(*, prices: Prices, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> int:
    """The exact cost of a usage in nano-dollars, rounded up. ``cached_tokens`` are part of ``prompt_tokens``
    (as OpenAI reports them) and priced at the cached-input price."""
    cached = min(max(cached_tokens, 0), prompt_tokens)
    dollars_per_1m = (
        (prompt_tokens - cached) * prices.input + cached * prices.cached + completion_tokens * prices.output
    )
    return int((dollars_per_1m * _NANOS_PER_TOKEN_PER_DOLLAR_PER_1M).to_integral_value(ROUND_CEILING))


def breaker_policy() -> breaker.BreakerPolicy:
    return breaker.BreakerPolicy(
        failures_to_open=int(conf.get("BREAKER_FAILURES")),
        cooldown_s=float(conf.get("BREAKER_COOLDOWN_S")),
        probe_timeout_s=float(conf.get("BREAKER_PROBE_TIMEOUT_S")),
    )


@dataclass(slots=True)
class GatewaySettlement:
    """One finished gateway attempt: its decision, what the provider reported and how it went."""

    route_pk: int | None
    decision_id: str
    request_id: str
    attempt: int
    provider_pk: int | None
    provider_key: str
    reserved_nanos: int
    reserved_at: datetime  # the reservation's time: the settlement lands in its window
    prices: Prices
    outcome: str  # a RouteAttempt.Outcome
    usage_source: str  # REPORTED, ESTIMATED or NONE
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    status_code: int | None = None
    error: str = ""
    ttfb_ms: float | None = None
    total_ms: float = 0.0
    stream: bool = False
    health: str = "neutral"  # "success", "failure" or "neutral" for the breaker
    probe: bool = False
    breaker_dirty: bool = False  # the breaker was not closed with 0 failures when this call was routed
    observed_ttfb_ms: float | None = None  # the process's current p50 for the provider, to publish
    # Filled by gateway_settle: the settled cost, and a provider_breaker_changed event if the breaker moved.
    cost_nanos: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    def cost(self) -> int:
        if self.usage_source == NONE:
            return 0
        if self.usage_source == ESTIMATED:
            return self.reserved_nanos
        return usage_cost_nanos(
            prices=self.prices,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cached_tokens=self.cached_tokens,
        )


def gateway_settle(settlements: Sequence[GatewaySettlement], *, now: datetime) -> None:
    """Write the settlements, their attempt records and breaker moves. Call under the budget lock, in the
    routing transaction (``services.route_requests(settlements=...)``)."""
    ledger, attempts = [], []
    for s in settlements:
        s.cost_nanos = s.cost()
        ledger.append(
            {
                "kind": LedgerEntry.Kind.SETTLEMENT,
                "amount_nanos": s.cost_nanos - s.reserved_nanos,
                "charged_at": s.reserved_at,
                "created_at": now,
                "route": s.route_pk,
                "provider": s.provider_pk,
                "provider_key": s.provider_key,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
                "cached_tokens": s.cached_tokens,
                "usage_source": s.usage_source,
            }
        )
        attempts.append(
            {
                "route": s.route_pk,
                "request_id": s.request_id,
                "number": s.attempt,
                "provider_key": s.provider_key,
                "stream": s.stream,
                "outcome": s.outcome,
                "status_code": s.status_code,
                "error": s.error[:2000],
                "ttfb_ms": s.ttfb_ms,
                "total_ms": s.total_ms,
                "prompt_tokens": s.prompt_tokens,
                "completion_tokens": s.completion_tokens,
                "cached_tokens": s.cached_tokens,
                "cost_nanos": s.cost_nanos,
                "usage_source": s.usage_source,
                "created_at": now,
            }
        )
    store.insert_ledger_entries(ledger)
    store.insert_attempts(attempts)
    _move_breakers(settlements, now)


def _move_breakers(settlements: Sequence[GatewaySettlement], now: datetime) -> None:
    """Fold each provider's outcomes, in order, into its breaker; write only the rows that changed."""
    # A success on a provider whose breaker was clean when routed changes nothing: no read, no write.
    touched = {
        s.provider_pk
        for s in settlements
        if s.provider_pk is not None
        and (s.health == "failure" or s.probe or s.breaker_dirty or s.observed_ttfb_ms is not None)
    }
    if not touched:
        return
    policy = breaker_policy()
    rows: dict[int | None, Provider] = {p.pk: p for p in Provider.objects.filter(pk__in=touched)}
    dirty: set[int] = set()  # the providers whose breaker or observed time to first byte moved
    for s in settlements:
        p = rows.get(s.provider_pk)
        if p is None:
            continue
        before = breaker.BreakerState(p.breaker_state, p.breaker_failures, p.breaker_until)
        if s.health == "success":
            after = breaker.after_success(before)
        elif s.health == "failure":
            after = breaker.after_failure(before, now, policy)
        else:
            after = breaker.after_neutral(before, now) if s.probe else before
        if after != before:
            p.breaker_state, p.breaker_failures, p.breaker_until = after.state, after.failures, after.until
            dirty.add(p.pk)
            if after.state != before.state:
                s.events.append(breaker_event(p, before.state, s.error))
        if s.observed_ttfb_ms is not None and s.observed_ttfb_ms != p.observed_ttfb_ms:
            p.observed_ttfb_ms = s.observed_ttfb_ms
            dirty.add(p.pk)
    for p in rows.values():
        if p.pk in dirty:
            Provider.objects.filter(pk=p.pk).update(
                breaker_state=p.breaker_state,
                breaker_failures=p.breaker_failures,
                breaker_until=p.breaker_until,
                observed_ttfb_ms=p.observed_ttfb_ms,
            )


def breaker_event(p: Provider, previous: str, error: str) -> dict[str, Any]:
    return {
        "event": "provider_breaker_changed",
        "provider": p.key,
        "name": p.name,
        "breaker": p.breaker_state,
        "previous": previous,
        "consecutive_failures": p.breaker_failures,
        "until": p.breaker_until.isoformat() if p.breaker_until else None,
        "error": error[:500],
    }
