"""Writes: route a request (filter, score, pick, reserve, log), settle usage.

``route_request`` is the one entry point for HTTP, WebSocket, socket agents
and the CLI. Everything it does happens in one transaction that first locks
the active budget rows (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
the IMMEDIATE transaction mode takes the database write lock at BEGIN), so
the spend it reads cannot change before its reservation commits: however
many requests race, the reservations of a hard-capped window never exceed its
budget. ``route_requests`` does the same for several requests in one
transaction (the HTTP fast path's batches). The hot path's SQL is in store.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Sum
from ulid import ULID

from agents.protocol import ErrorCode, ProtocolError
from llmrouter import conf, gateway, scoring, settlement, store, windows
from llmrouter.models import Budget, LedgerEntry, Provider, RouteLog, nanos_to_dollars

_TOKENS_PER_1M = Decimal(1_000_000)
# The route log's interface of every anonymous caller's decision (whatever interface it named): how the
# anonymous share of a budget window is counted.
ANONYMOUS_INTERFACE = "anonymous"


@dataclass(slots=True)
class RouteResult:
    decision_id: str
    provider_key: str
    provider_name: str
    reasoning: str
    estimated_cost_nanos: int
    confidence: float
    candidates: list[dict[str, Any]]
    created_at: datetime
    provider_pk: int | None = None
    route_pk: int | None = None  # the route log's id, once written
    # Gateway decisions: the first decision's id of the client request, and how to call the provider.
    request_id: str = ""
    target: gateway.Target | None = None

    @property
    def estimated_cost(self) -> float:
        return self.estimated_cost_nanos / 1e9


@dataclass(slots=True)
class _BudgetView:
    """The locked budgets' remaining money, kept current across the decisions of one transaction."""

    remaining: list[int] = field(default_factory=list)  # per active budget, nano-dollars
    hard_cap: list[bool] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    # What anonymous callers may still reserve per budget; read on the batch's first anonymous request.
    anonymous_remaining: list[int] | None = None

    @property
    def remaining_nanos(self) -> float:  # min over active budgets (the formula's remaining_budget)
        return min(self.remaining, default=math.inf)

    @property
    def hard_cap_remaining_nanos(self) -> float:  # min over hard-capped budgets
        return min((r for r, hard in zip(self.remaining, self.hard_cap, strict=True) if hard), default=math.inf)

    def spend(self, amount: int, *, anonymous: bool = False) -> None:
        self.remaining = [r - amount for r in self.remaining]
        if anonymous and self.anonymous_remaining is not None:
            self.anonymous_remaining = [r - amount for r in self.anonymous_remaining]

    def for_anonymous(self) -> _BudgetView:
        """The view an anonymous request is decided on: each budget's remaining money, but at most what is
        left of its anonymous share (always a hard cap)."""
        if self.anonymous_remaining is None:
            share = Decimal(str(conf.get("ANONYMOUS_BUDGET_SHARE")))
            self.anonymous_remaining = [
                int(amount * share) - _anonymous_reserved(start, end)
                for amount, (start, end) in zip(self.amounts, self.windows, strict=True)
            ]
        return _BudgetView(
            remaining=[min(r, a) for r, a in zip(self.remaining, self.anonymous_remaining, strict=True)],
            hard_cap=[True] * len(self.remaining),
        )


def _anonymous_reserved(start: datetime, end: datetime) -> int:
    """What anonymous decisions reserved in [start, end) (under the budget lock, like every spend read)."""
    # A range of the covering index llmrouter_route_iface_spend. Run only for anonymous requests that
    # would cost money (see _route_one), so the seed's free anonymous traffic never pays for it.
    total = RouteLog.objects.filter(
        interface=ANONYMOUS_INTERFACE, outcome=RouteLog.OUTCOME_ROUTED, created_at__gte=start, created_at__lt=end
    ).aggregate(total=Sum("estimated_cost_nanos"))["total"]
    return int(total or 0)


def cost_nanos(token_count: int, cost_per_1m: Decimal) -> int:
    """Exact cost in nano-dollars at one price, rounded up so reservations never under-count."""
    return settlement.usage_cost_nanos(
        prices=settlement.Prices(Decimal(cost_per_1m)), prompt_tokens=token_count, completion_tokens=0
    )


def new_decision_id() -> str:
    return f"rt_{ULID()}"


def _lock_budgets(now: datetime) -> _BudgetView:
    """Lock the active budgets (ordered, so lockers never deadlock) and read their spend."""
    view = _BudgetView()
    for _pk, amount_nanos, period, tz, hard_cap in store.lock_active_budgets():
        start, end = windows.window_bounds(period, tz, now)
        view.remaining.append(amount_nanos - store.window_spend(start, end, checkpoint=True))
        view.hard_cap.append(hard_cap)
        view.amounts.append(amount_nanos)
        view.windows.append((start, end))
    return view


def _spec_of(row: store.ProviderRow) -> scoring.ProviderSpec:
    # The operator may score a provider with the latency the gateway observed instead of the typed one
    # (the same rule as Provider.scoring_latency_ms, which manage.py route --dry-run uses).
    latency = row.observed_ttfb_ms if row.use_observed_latency and row.observed_ttfb_ms is not None else row.latency_ms
    return _spec(
        row.key,
        row.name,
        row.cost_per_1m,
        row.context_window,
        float(latency),
        row.quality,
        tuple(row.capabilities),
        row.enabled,
        row.healthy,
    )


@lru_cache(maxsize=512)  # the same providers, decision after decision; the spec is immutable
def _spec(
    key: str,
    name: str,
    cost_per_1m: Decimal,
    context_window: int,
    latency_ms: float,
    quality: float,
    capabilities: tuple[str, ...],
    enabled: bool,
    healthy: bool,
) -> scoring.ProviderSpec:
    return scoring.ProviderSpec(
        key=key,
        name=name,
        cost_per_1m=float(cost_per_1m),
        context_window=context_window,
        latency_ms=latency_ms,
        quality=quality,
        capabilities=frozenset(c.lower() for c in capabilities),
        enabled=enabled,
        healthy=healthy,
    )


def _load_providers() -> tuple[list[store.ProviderRow], list[scoring.ProviderSpec]]:
    """Provider rows and their specs, in tie-break order."""
    rows = store.provider_rows()
    return rows, [_spec_of(r) for r in rows]


def _load_weights() -> scoring.Weights:
    row = store.weights_row()
    return scoring.Weights(**row) if row is not None else scoring.DEFAULT_WEIGHTS


def _decide_exact(
    specs,
    amount_of: Callable[[str], int],
    query: scoring.Query,
    view: _BudgetView,
    weights: scoring.Weights,
    pre_excluded: dict[str, tuple[str, str]] | None = None,
):
    """Run the formula, then re-check the winner's exact integer cost against the hard cap.

    The formula works in floats; the ledger in integer nano-dollars. In the
    rare case where the two disagree at the budget's edge, the winner is
    excluded for the budget reason and the decision is made again.
    """
    forced: set[str] = set()
    while True:
        decision = scoring.decide(
            specs,
            query,
            remaining_budget=view.remaining_nanos / 1e9,
            hard_cap_remaining=view.hard_cap_remaining_nanos / 1e9,
            weights=weights,
            force_excluded=forced,
            pre_excluded=pre_excluded,
        )
        chosen = decision.chosen
        if chosen is None:
            return decision, 0
        amount = amount_of(chosen.key)
        if amount == 0 or amount <= view.hard_cap_remaining_nanos:
            return decision, amount
        forced.add(chosen.key)


def _candidates_shown(decision: scoring.Decision, cost_of: Callable[[str], float]) -> list[dict[str, Any]]:
    """The candidates as logged and returned: scores rounded by scoring.shown(), and each
    request_cost the exact price (``cost_of``: Decimal arithmetic or the ledger's nano-dollars),
    not the formula's float (1234 tokens at $7.10 is 0.0087614, not 0.008761399999999999)."""
    rows = decision.candidates_as_dicts()
    for row in rows:
        row["request_cost"] = cost_of(row["provider"])
    return rows


def _reservation_row(*, provider_pk: int | None, provider_key: str, amount_nanos: int, now: datetime) -> dict[str, Any]:
    """A reservation's ledger row, but for its ``route`` (the route log's id, known once the batch's logs are
    written). Written with its batch, inside the routing transaction, after the budget lock."""
    return {
        "kind": LedgerEntry.Kind.RESERVATION,
        "amount_nanos": amount_nanos,
        "charged_at": now,
        "created_at": now,
        "provider": provider_pk,
        "provider_key": provider_key,
    }


def route_request(
    *,
    token_count: int,
    task_type: str = "",
    priority: str = "medium",
    max_latency: float = 0.0,
    interface: str = "",
    anonymous: bool = False,
    now: datetime | None = None,
) -> RouteResult:
    """Pick a provider, reserve its estimated cost and log the decision, atomically.

    Raises ProtocolError(BUDGET_EXCEEDED or NO_SUITABLE_PROVIDER) when nothing
    is routable; its details name why each provider was excluded. The route
    log of a refused request is committed before the error is raised. An
    ``anonymous`` caller's reservations are capped by the anonymous share of
    each budget (``ANONYMOUS_BUDGET_SHARE``) and logged as ANONYMOUS_INTERFACE.
    """
    [outcome] = route_requests(
        [
            {
                "token_count": token_count,
                "task_type": task_type,
                "priority": priority,
                "max_latency": max_latency,
                "interface": interface,
                "anonymous": anonymous,
            }
        ],
        now=now,
    )
    if isinstance(outcome, ProtocolError):
        raise outcome
    return outcome


def route_requests(
    requests: list[dict[str, Any]],
    *,
    now: datetime | None = None,
    settlements: Sequence[settlement.GatewaySettlement] = (),
) -> list[RouteResult | ProtocolError]:
    """Route several requests in one transaction, in order; one outcome per request.

    Exactly as if each were routed alone, one after the other: every decision
    sees the reservations of the ones before it. Sharing the transaction
    shares the lock, the reads of budgets, providers and weights, and the
    commit, which is what lets the HTTP fast path keep up under load. The
    dicts hold route_request's keyword arguments (without ``now``), or for the
    gateway a ``gateway.GatewayQuery``'s (see ``gateway_query``).
    ``settlements`` (the gateway's finished attempts) are written first, so
    the money they release is there for the decisions of the same batch.
    """
    now = now or windows.utc_now()  # the clock is read once
    outcomes: list[RouteResult | ProtocolError] = []
    with transaction.atomic():
        if settlements:
            store.lock_active_budgets()  # every ledger write holds the budget lock (see LedgerCheckpoint)
            settlement.gateway_settle(settlements, now=now)
            if not requests:
                return outcomes
        view = _lock_budgets(now)
        rows, specs = _load_providers()
        weights = _load_weights()
        # Decide all of them first (each sees the spend of the ones before through ``view``),
        # then write the batch's logs and reservations with one statement per table.
        logs: list[dict[str, Any]] = []
        reservations: list[tuple[str, dict[str, Any]]] = []
        results: list[RouteResult] = []
        by_key = {r.key: r for r in rows}
        for request in requests:
            outcome, log, reserved = _route_one(request, now, view, rows, by_key, specs, weights)
            outcomes.append(outcome)
            if log is None:  # refused before routing: nothing logged, nothing reserved
                continue
            logs.append(log)
            if isinstance(outcome, RouteResult):
                results.append(outcome)
            if reserved is not None:
                reservations.append((log["decision_id"], reserved))
        route_ids = store.insert_route_logs(logs) if logs else {}
        for result in results:
            result.route_pk = route_ids[result.decision_id]
        for decision_id, row in reservations:
            row["route"] = route_ids[decision_id]
        store.insert_ledger_entries([row for _, row in reservations])
    return outcomes


def _memo(amount_of: Callable[[str], int]) -> Callable[[str], int]:
    """``amount_of`` asked once per provider: the decision, its hard-cap re-check and the candidates shown all
    price the same providers."""
    amounts: dict[str, int] = {}

    def cached(key: str) -> int:
        amount = amounts.get(key)
        if amount is None:
            amount = amounts[key] = amount_of(key)
        return amount

    return cached


def _route_one(
    request: dict[str, Any],
    now: datetime,
    view: _BudgetView,
    rows: list[store.ProviderRow],
    by_key: dict[str, store.ProviderRow],
    specs: list[scoring.ProviderSpec],
    weights: scoring.Weights,
) -> tuple[RouteResult | ProtocolError, dict[str, Any] | None, dict[str, Any] | None]:
    """One decision, counted in ``view``: (its outcome, its route log row or None, its reservation row or None)."""
    query_of = request.get("gateway")
    if query_of is not None:
        refusal = gateway.refuse_before_routing(query_of, rows)
        if refusal is not None:
            return refusal, None, None
        pre_excluded = gateway.exclusions(query_of, rows, now)
        specs = gateway.specs_for(query_of, rows, specs)
        amount_of = _memo(lambda key: gateway.worst_case_nanos(query_of, by_key[key]))
    else:
        pre_excluded = None
        amount_of = _memo(lambda key: cost_nanos(request["token_count"], by_key[key].cost_per_1m))
    token_count, task_type = request["token_count"], (request.get("task_type") or "").strip().lower()
    priority, max_latency = request.get("priority", "medium"), request.get("max_latency", 0.0)
    query = scoring.Query(token_count=token_count, task_type=task_type, priority=priority, max_latency=max_latency)
    decision_id = new_decision_id()
    anonymous = bool(request.get("anonymous"))
    seen = view
    decision, amount = _decide_exact(specs, amount_of, query, view, weights, pre_excluded)
    if anonymous and (amount > 0 or decision.chosen is None):
        # Decided again on what is left of the anonymous share. Only then: a smaller remaining budget only
        # lowers or excludes paid providers, so a free winner stays the winner (and costs no share).
        seen = view.for_anonymous()
        decision, amount = _decide_exact(specs, amount_of, query, seen, weights, pre_excluded)
    if query_of is not None:
        cost_of = lambda key: amount_of(key) / 1e9  # noqa: E731  (the worst case the gateway reserves)
    else:
        cost_of = lambda key: float(token_count * by_key[key].cost_per_1m / _TOKENS_PER_1M)  # noqa: E731
    candidates = _candidates_shown(decision, cost_of)
    chosen = decision.chosen
    row = by_key[chosen.key] if chosen else None
    interface = ANONYMOUS_INTERFACE if anonymous else request.get("interface", "")
    log = {
        "decision_id": decision_id,
        "created_at": now,
        "interface": interface,
        "task_type": task_type,
        "priority": priority,
        "token_count": token_count,
        "max_latency": max_latency,
        "provider": row.pk if row else None,
        "provider_key": chosen.key if chosen else "",
        "outcome": RouteLog.OUTCOME_ROUTED if chosen else decision.error_code,
        "estimated_cost_nanos": amount,
        "cost_per_1m": row.cost_per_1m if row else None,
        "confidence": decision.confidence,
        "reasoning": decision.reasoning,
        "candidates": candidates,
        "request_id": query_of.request_id or decision_id if query_of else "",
        "attempt": query_of.attempt if query_of else 1,
        "input_cost_per_1m": row.input_cost_per_1m if row else None,
        "output_cost_per_1m": row.output_cost_per_1m if row else None,
        "cached_input_cost_per_1m": row.cached_input_cost_per_1m if row else None,
    }
    if chosen is None:
        return _refusal(decision, decision_id, seen, candidates, anonymous=anonymous), log, None
    assert row is not None  # the chosen provider is one of by_key's
    reserved = None
    if amount > 0:
        reserved = _reservation_row(provider_pk=row.pk, provider_key=chosen.key, amount_nanos=amount, now=now)
        view.spend(amount, anonymous=anonymous)
    result = RouteResult(
        decision_id=decision_id,
        provider_key=chosen.key,
        provider_name=chosen.name,
        reasoning=decision.reasoning,
        estimated_cost_nanos=amount,
        confidence=decision.confidence,
        candidates=candidates,
        created_at=now,
        provider_pk=row.pk,
    )
    if query_of is not None:
        result.request_id, result.target = log["request_id"], gateway.target_for(row, now)
    return result, log, reserved


def _refusal(
    decision: scoring.Decision, decision_id: str, view: _BudgetView, candidates, *, anonymous: bool = False
) -> ProtocolError:
    if decision.error_code == ErrorCode.BUDGET_EXCEEDED:
        message = (
            "No provider fits the remaining budget; the paid providers that could serve this request would overspend it"
        )
        if anonymous:
            message += " (anonymous callers share a small part of each budget: send an API token)"
    else:
        message = "No enabled, healthy provider can serve this request"
    hard_cap_remaining = view.hard_cap_remaining_nanos
    remaining = None if math.isinf(hard_cap_remaining) else float(nanos_to_dollars(int(hard_cap_remaining)))
    details = {
        "decision_id": decision_id,
        "excluded": decision.excluded,
        "candidates": candidates,
        "remaining_budget": remaining,
    }
    if anonymous:
        details["anonymous_share"] = float(conf.get("ANONYMOUS_BUDGET_SHARE"))
    assert decision.error_code is not None  # set whenever no provider was chosen
    return ProtocolError(decision.error_code, message, details)


# --- usage settlement ---------------------------------------------------------


@dataclass(slots=True)
class Settlement:
    decision_id: str
    provider_key: str
    prompt_tokens: int
    completion_tokens: int
    estimated_cost_nanos: int
    actual_cost_nanos: int
    already_settled: bool

    def as_response(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "provider_key": self.provider_key,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "estimated_cost": self.estimated_cost_nanos / 1e9,
            "actual_cost": self.actual_cost_nanos / 1e9,
            "adjustment": (self.actual_cost_nanos - self.estimated_cost_nanos) / 1e9,
            "already_settled": self.already_settled,
        }


def _settlement_of(route: RouteLog, entry: LedgerEntry, *, repeated: bool) -> Settlement:
    return Settlement(
        decision_id=route.decision_id,
        provider_key=route.provider_key,
        prompt_tokens=entry.prompt_tokens or 0,
        completion_tokens=entry.completion_tokens or 0,
        estimated_cost_nanos=route.estimated_cost_nanos,
        actual_cost_nanos=route.estimated_cost_nanos + entry.amount_nanos,
        already_settled=repeated,
    )


def usage_settle(
    *, decision_id: str, prompt_tokens: int, completion_tokens: int, now: datetime | None = None
) -> Settlement:
    """Record a routed request's real usage: one settlement entry, idempotently.

    A repeat with the same token counts returns the first settlement; a repeat
    with different counts is a CONFLICT (the first report stands). The entry
    is charged to the reservation's window.
    """
    now = now or windows.utc_now()
    try:
        with transaction.atomic():
            # Every ledger write holds the budget lock (see LedgerCheckpoint).
            store.lock_active_budgets()
            route = RouteLog.objects.select_for_update().filter(decision_id=decision_id).first()
            if route is None:
                raise ProtocolError(ErrorCode.NOT_FOUND, f"No routing decision {decision_id!r}")
            if route.outcome != RouteLog.OUTCOME_ROUTED:
                raise ProtocolError(
                    ErrorCode.CONFLICT,
                    "That request was not routed; there is nothing to settle",
                    {"decision_id": decision_id, "outcome": route.outcome},
                )
            existing = LedgerEntry.objects.filter(route=route, kind=LedgerEntry.Kind.SETTLEMENT).first()
            if existing is not None:
                return _repeat(route, existing, prompt_tokens, completion_tokens)
            prices = settlement.Prices(
                route.cost_per_1m or Decimal(0),
                route.input_cost_per_1m,
                route.output_cost_per_1m,
                route.cached_input_cost_per_1m,
            )
            actual = settlement.usage_cost_nanos(
                prices=prices, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens
            )
            entry = LedgerEntry.objects.create(
                kind=LedgerEntry.Kind.SETTLEMENT,
                amount_nanos=actual - route.estimated_cost_nanos,
                charged_at=route.created_at,
                created_at=now,
                route=route,
                provider_id=route.provider_id,
                provider_key=route.provider_key,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                usage_source=settlement.REPORTED,
            )
            return _settlement_of(route, entry, repeated=False)
    except IntegrityError:
        # A concurrent settlement won the unique constraint; answer as a repeat.
        route = RouteLog.objects.get(decision_id=decision_id)
        existing = LedgerEntry.objects.get(route=route, kind=LedgerEntry.Kind.SETTLEMENT)
        return _repeat(route, existing, prompt_tokens, completion_tokens)


def _repeat(route: RouteLog, existing: LedgerEntry, prompt_tokens: int, completion_tokens: int) -> Settlement:
    if (existing.prompt_tokens, existing.completion_tokens) != (prompt_tokens, completion_tokens):
        raise ProtocolError(
            ErrorCode.CONFLICT,
            "This decision was already settled with other token counts",
            {
                "decision_id": route.decision_id,
                "prompt_tokens": existing.prompt_tokens,
                "completion_tokens": existing.completion_tokens,
            },
        )
    return _settlement_of(route, existing, repeated=True)


# --- monitor writes --------------------------------------------------------------


def provider_record_health(
    *, provider_id: int, ok: bool, error: str, now: datetime, unhealthy_after: int
) -> dict[str, Any] | None:
    """Record one health check; return a provider_health_changed event when the state flips.

    Unhealthy after ``unhealthy_after`` consecutive failures, healthy again
    after one success. The row is locked so two monitors cannot both flip it.
    """
    with transaction.atomic():
        p = Provider.objects.select_for_update().filter(pk=provider_id).first()
        if p is None:
            return None
        previous = p.health_state
        if ok:
            p.consecutive_failures = 0
            p.last_error = ""
            p.health_state = Provider.Health.HEALTHY
        else:
            p.consecutive_failures += 1
            p.last_error = error[:1000]
            if p.consecutive_failures >= unhealthy_after:
                p.health_state = Provider.Health.UNHEALTHY
        p.last_check_at = now
        p.save(update_fields=["consecutive_failures", "last_error", "health_state", "last_check_at", "updated_at"])
    if p.health_state == previous:
        return None
    return {
        "event": "provider_health_changed",
        "provider": p.key,
        "name": p.name,
        "health": p.health_state,
        "previous": previous,
        "error": p.last_error,
        "consecutive_failures": p.consecutive_failures,
    }


def budget_mark_warned(*, budget_id: int, window_start: datetime) -> bool:
    """Claim the one budget_warning of a window: True for the first caller only.

    A conditional UPDATE, so monitors in several processes cannot both warn.
    """
    updated = (
        Budget.objects.filter(pk=budget_id)
        .exclude(warned_window_start=window_start)
        .update(warned_window_start=window_start)
    )
    return updated == 1


def provider_reset_breaker(*, key: str) -> str | None:
    """Close a provider's gateway circuit breaker by hand (an operator who knows it is fixed); the state it was
    in (read under the same lock), or None for no such key."""
    from llmrouter import breaker

    with transaction.atomic():
        store.lock_active_budgets()  # breaker moves are serialised with the decisions that read them
        previous = Provider.objects.filter(key=key).values_list("breaker_state", flat=True).first()
        if previous is not None:
            Provider.objects.filter(key=key).update(
                breaker_state=breaker.CLOSED, breaker_failures=0, breaker_until=None
            )
        return previous
