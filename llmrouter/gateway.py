"""The decision's gateway rules: what a ``/v1/`` call adds to a routing decision.

A gateway decision is an ordinary one (same formula, lock, reservation and
log, in ``services.route_requests``) with a ``GatewayQuery``: the worst case
it may cost (prompt estimate + completion limit, at the input and output
prices), the providers it may not use and why (no credentials, no API base,
circuit breaker cooling down, already tried by this request, not the pinned
one), and the refusals that happen before routing (nothing is logged or
reserved for those). Runs in the routing transaction; the credentials are
looked up in this process's environment, the one that will make the call.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import datetime

from agents.protocol import ErrorCode, ProtocolError
from llmrouter import breaker, scoring
from llmrouter.models import Provider
from llmrouter.settlement import Prices, breaker_policy, usage_cost_nanos
from llmrouter.store import ProviderRow


@dataclass(frozen=True, slots=True)
class GatewayQuery:
    prompt_tokens: int  # the estimate
    completion_tokens: int  # max_tokens, or the configured default
    pin: str = ""  # a provider key, or "" for auto
    tried: frozenset[str] = frozenset()
    request_id: str = ""  # the first decision's id, from the second attempt on
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Target:
    """How to call the chosen provider, and the prices to settle at (the secret is read when calling)."""

    api_base: str
    api_format: str
    upstream_model: str
    api_key_env: str
    prices: Prices
    probe: bool = False
    breaker_dirty: bool = False  # failures were counted: a success must reset them


def route_kwargs(q: GatewayQuery, *, task_type: str, priority: str, max_latency: float, interface: str) -> dict:
    """The ``route_requests`` request of a gateway call."""
    return {
        "token_count": q.prompt_tokens + q.completion_tokens,
        "task_type": task_type,
        "priority": priority,
        "max_latency": max_latency,
        "interface": interface,
        "gateway": q,
    }


def prices_of(row: ProviderRow) -> Prices:
    return Prices(row.cost_per_1m, row.input_cost_per_1m, row.output_cost_per_1m, row.cached_input_cost_per_1m)


def worst_case_nanos(q: GatewayQuery, row: ProviderRow) -> int:
    return usage_cost_nanos(prices=prices_of(row), prompt_tokens=q.prompt_tokens, completion_tokens=q.completion_tokens)


def refuse_before_routing(q: GatewayQuery, rows: list[ProviderRow]) -> ProtocolError | None:
    """An unknown model, or a request no context window can hold: refused, nothing logged or reserved."""
    if q.attempt > 1:
        return None  # later attempts are part of a routed request: their refusals are logged
    enabled = [r for r in rows if r.enabled]
    if q.pin:
        enabled = [r for r in enabled if r.key == q.pin]
        if not enabled:
            return ProtocolError(
                ErrorCode.NOT_FOUND,
                f"The model {q.pin!r} does not exist; GET /v1/models lists them",
                {"param": "model", "code": "model_not_found"},
            )
    needed = q.prompt_tokens + q.completion_tokens
    largest = max((r.context_window for r in enabled), default=0)
    if enabled and needed > largest:
        return ProtocolError(
            ErrorCode.VALIDATION_ERROR,
            (
                f"This request needs {needed} tokens (about {q.prompt_tokens} of prompt plus max_tokens "
                f"{q.completion_tokens}) but the largest context window is {largest}"
            ),
            {"param": "max_tokens", "code": "context_length_exceeded"},
        )
    return None


def exclusions(q: GatewayQuery, rows: list[ProviderRow], now: datetime) -> dict[str, tuple[str, str]]:
    """Providers this call may not use, with (code, reason). Disabled ones are left to the formula's filter."""
    out: dict[str, tuple[str, str]] = {}
    for r in rows:
        if not r.enabled:
            continue
        why = _exclusion(q, r, now)
        if why is not None:
            out[r.key] = why
    return out


def _exclusion(q: GatewayQuery, r: ProviderRow, now: datetime) -> tuple[str, str] | None:
    if q.pin and r.key != q.pin:
        return scoring.EXCLUDED_NOT_REQUESTED, f"the request asked for model {q.pin!r}"
    if r.key in q.tried:
        return scoring.EXCLUDED_ALREADY_TRIED, "already tried for this request"
    if not r.api_base:
        return scoring.EXCLUDED_NO_API_BASE, "no API base configured"
    # Not in settings.py: the variable's name is a row's data, read at call time (orchestrator_common/env.py).
    if r.api_key_env and not os.environ.get(r.api_key_env):
        return scoring.EXCLUDED_NO_CREDENTIALS, f"its key variable {r.api_key_env} is not set"
    blocked = breaker.blocking_reason(_breaker_of(r), now)
    if blocked is not None:
        return scoring.EXCLUDED_COOLING_DOWN, blocked
    return None


def _breaker_of(r: ProviderRow) -> breaker.BreakerState:
    return breaker.BreakerState(r.breaker_state, r.breaker_failures, r.breaker_until)


def specs_for(
    q: GatewayQuery, rows: list[ProviderRow], specs: list[scoring.ProviderSpec]
) -> list[scoring.ProviderSpec]:
    """The specs scored with this call's blended price where input and output prices differ, so the formula's
    cost, the hard-cap filter and the reservation agree."""
    total = q.prompt_tokens + q.completion_tokens
    if total <= 0 or all(r.input_cost_per_1m is None and r.output_cost_per_1m is None for r in rows):
        return specs
    out = []
    for r, spec in zip(rows, specs, strict=True):
        if r.input_cost_per_1m is None and r.output_cost_per_1m is None:
            out.append(spec)
            continue
        p = prices_of(r)
        blended = float(q.prompt_tokens * p.input + q.completion_tokens * p.output) / total
        out.append(dataclasses.replace(spec, cost_per_1m=blended))
    return out


def target_for(row: ProviderRow, now: datetime) -> Target:
    """The chosen provider's call details; claims its probe when its breaker is not closed (the row is updated,
    in memory too, so the next decisions of the batch see the claim)."""
    state = _breaker_of(row)
    probe = breaker.is_probe(state)
    if probe:
        claimed = breaker.claim_probe(state, now, breaker_policy())
        Provider.objects.filter(pk=row.pk).update(breaker_state=claimed.state, breaker_until=claimed.until)
        row.breaker_state, row.breaker_until = claimed.state, claimed.until
    return Target(
        api_base=row.api_base,
        api_format=row.api_format,
        upstream_model=row.upstream_model or row.key,
        api_key_env=row.api_key_env,
        prices=prices_of(row),
        probe=probe,
        breaker_dirty=probe or row.breaker_failures > 0,
    )
