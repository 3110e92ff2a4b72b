"""The routing formula, pure: no Django, no database, no clock.

This module is the contract of DESIGN.md's router section. ``decide`` filters
the providers, scores the eligible ones with exactly the seed's formula and
picks the highest score (ties go to the earlier provider in the given order).

    score = quality
    cost_factor = 1.0
    if cost_per_1m > 0:
        request_cost = token_count * cost_per_1m / 1e6
        cost_factor = 0.1 if request_cost > remaining_budget else 1 - cost_per_1m / 20
    latency_factor = 0.3 if (max_latency > 0 and latency > max_latency) else 1 - latency / 5000
    priority high: score *= 1.2; cost_factor *= 0.8
    priority low:  score *= 0.9; cost_factor *= 1.3
    final = score * cost_factor * latency_factor

The constants are the defaults of ``Weights``, which the service fills from
the editable database row. A hard-capped budget adds one filter the formula
does not have: a paid provider whose request cost exceeds the capped budget's
remaining money is excluded instead of scored at 0.1 (money cannot be
overspent); free providers stay routable.

Written for speed (the hot path of every routing request): slotted classes,
no per-call allocation beyond one small object per provider.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PRIORITIES = ("high", "medium", "low")

# Exclusion codes (stable: they are stored in route logs and returned to callers).
EXCLUDED_DISABLED = "disabled"
EXCLUDED_UNHEALTHY = "unhealthy"
EXCLUDED_CAPABILITY = "no_capability"
EXCLUDED_CONTEXT = "context_too_small"
EXCLUDED_BUDGET = "over_budget"
# Gateway-only exclusions (decided by the caller, passed in ``pre_excluded``).
EXCLUDED_NO_CREDENTIALS = "no_credentials"
EXCLUDED_NO_API_BASE = "no_api_base"
EXCLUDED_COOLING_DOWN = "cooling_down"
EXCLUDED_ALREADY_TRIED = "already_tried"
EXCLUDED_NOT_REQUESTED = "not_requested"

INF = math.inf

# Scores and factors leave this module (route logs, API answers, the admin) with at most
# this many decimals: the formula's floats carry noise such as 0.13679999999999998, and
# six decimals are far finer than any difference the ranking acts on. The comparisons
# inside decide() use the unrounded values. Money is not rounded here: see services.
SHOWN_DECIMALS = 6


def shown(value: float) -> float:
    """A score or factor as it is shown and serialized: ``shown(0.13679999999999998) == 0.1368``."""
    return round(value, SHOWN_DECIMALS)


# The per-candidate keys shown(): Candidate.as_dict writes them rounded; shown_candidate
# rounds a dict logged before it did (route logs are kept for ever).
SHOWN_KEYS = ("quality", "quality_factor", "cost_factor", "latency_factor", "score")


def shown_candidate(candidate: dict) -> dict:
    """A logged candidate with its scores and factors as shown(); other keys (money) unchanged."""
    out = dict(candidate)
    for key in SHOWN_KEYS:
        if isinstance(out.get(key), float):
            out[key] = shown(out[key])
    if isinstance(out.get("priority_multipliers"), list):
        out["priority_multipliers"] = [shown(m) if isinstance(m, float) else m for m in out["priority_multipliers"]]
    return out


@dataclass(frozen=True, slots=True)
class Weights:
    """The formula's constants; the defaults are the seed's."""

    high_quality_multiplier: float = 1.2
    high_cost_multiplier: float = 0.8
    low_quality_multiplier: float = 0.9
    low_cost_multiplier: float = 1.3
    over_budget_cost_factor: float = 0.1
    cost_scale: float = 20.0
    latency_scale_ms: float = 5000.0
    over_latency_factor: float = 0.3
    # Reasoning thresholds ("high quality match", "cost-effective").
    high_quality_threshold: float = 0.8
    cost_effective_share: float = 0.1


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    key: str
    name: str
    cost_per_1m: float
    context_window: int
    latency_ms: float
    quality: float
    capabilities: frozenset[str]
    enabled: bool = True
    healthy: bool = True


@dataclass(frozen=True, slots=True)
class Query:
    token_count: int
    task_type: str = ""
    priority: str = "medium"
    max_latency: float = 0.0


@dataclass(slots=True)
class Candidate:
    """One provider's evaluation: its factors, or why it was excluded."""

    key: str
    name: str
    request_cost: float
    excluded: str | None = None
    reason: str = ""
    quality: float = 0.0
    quality_factor: float = 0.0  # quality after the priority multiplier
    cost_factor: float = 0.0  # after the priority multiplier
    latency_factor: float = 0.0
    priority_multipliers: tuple[float, float] = (1.0, 1.0)
    score: float | None = None

    def as_dict(self) -> dict:
        if self.excluded is not None:
            return {
                "provider": self.key,
                "name": self.name,
                "excluded": self.excluded,
                "reason": self.reason,
                "request_cost": self.request_cost,
            }
        return {
            "provider": self.key,
            "name": self.name,
            "quality": shown(self.quality),
            "quality_factor": shown(self.quality_factor),
            "cost_factor": shown(self.cost_factor),
            "latency_factor": shown(self.latency_factor),
            "priority_multipliers": [shown(m) for m in self.priority_multipliers],
            "score": shown(self.score or 0.0),
            "request_cost": self.request_cost,
        }


@dataclass(slots=True)
class Decision:
    candidates: list[Candidate]
    chosen: Candidate | None = None
    reasoning: str = ""
    confidence: float = 0.0
    # Set when nothing is routable: "BUDGET_EXCEEDED" or "NO_SUITABLE_PROVIDER".
    error_code: str | None = None
    excluded: dict[str, str] = field(default_factory=dict)

    def candidates_as_dicts(self) -> list[dict]:
        return [c.as_dict() for c in self.candidates]


def request_cost(token_count: int, cost_per_1m: float) -> float:
    return token_count * cost_per_1m / 1e6


def _priority_multipliers(priority: str, w: Weights) -> tuple[float, float]:
    if priority == "high":
        return w.high_quality_multiplier, w.high_cost_multiplier
    if priority == "low":
        return w.low_quality_multiplier, w.low_cost_multiplier
    return 1.0, 1.0


def _exclusion(p: ProviderSpec, q: Query, cost: float, hard_cap_remaining: float) -> tuple[str, str] | None:
    if not p.enabled:
        return EXCLUDED_DISABLED, "provider is disabled"
    if not p.healthy:
        return EXCLUDED_UNHEALTHY, "provider is unhealthy"
    if q.task_type and q.task_type not in p.capabilities:
        return EXCLUDED_CAPABILITY, f"does not support {q.task_type} tasks"
    if q.token_count > p.context_window:
        return EXCLUDED_CONTEXT, f"{q.token_count} tokens exceed its context window of {p.context_window}"
    if p.cost_per_1m > 0 and cost > hard_cap_remaining:
        return EXCLUDED_BUDGET, (
            f"estimated cost ${cost:.6f} exceeds the remaining hard-capped budget ${max(hard_cap_remaining, 0.0):.6f}"
        )
    return None


def score_candidate(
    p: ProviderSpec, q: Query, cost: float, remaining_budget: float, w: Weights, multipliers: tuple[float, float]
) -> Candidate:
    """The seed's formula for one eligible provider."""
    cost_factor = 1.0
    if p.cost_per_1m > 0:
        cost_factor = w.over_budget_cost_factor if cost > remaining_budget else 1 - p.cost_per_1m / w.cost_scale
    if q.max_latency > 0 and p.latency_ms > q.max_latency:
        latency_factor = w.over_latency_factor
    else:
        latency_factor = 1 - p.latency_ms / w.latency_scale_ms
    qm, cm = multipliers
    quality_factor = p.quality * qm
    cost_factor *= cm
    return Candidate(
        key=p.key,
        name=p.name,
        request_cost=cost,
        quality=p.quality,
        quality_factor=quality_factor,
        cost_factor=cost_factor,
        latency_factor=latency_factor,
        priority_multipliers=multipliers,
        score=quality_factor * cost_factor * latency_factor,
    )


def reasoning_for(chosen: Candidate, p: ProviderSpec, q: Query, remaining_budget: float, w: Weights) -> str:
    reasons = []
    if chosen.score is not None and chosen.score > w.high_quality_threshold:
        reasons.append("high quality match")
    if chosen.request_cost < w.cost_effective_share * remaining_budget:
        reasons.append("cost-effective")
    if q.max_latency <= 0 or p.latency_ms <= q.max_latency:
        reasons.append("meets latency requirements")
    if q.task_type and q.task_type in p.capabilities:
        reasons.append(f"supports {q.task_type} tasks")
    if not reasons:
        return "Selected for: best available option"
    return "Selected for: " + ", ".join(reasons)


def decide(
    providers: Sequence[ProviderSpec],
    query: Query,
    *,
    remaining_budget: float = INF,
    hard_cap_remaining: float = INF,
    weights: Weights = DEFAULT_WEIGHTS,
    force_excluded: Iterable[str] = (),
    pre_excluded: dict[str, tuple[str, str]] | None = None,
) -> Decision:
    """Filter, score and pick. ``providers`` are in tie-break order.

    ``remaining_budget`` drives the formula's 0.1 cost factor (INF: no budget);
    ``hard_cap_remaining`` excludes paid providers that would overspend a
    hard-capped budget (INF: no hard cap). ``force_excluded`` lets the caller
    exclude providers for the budget reason after an exact (integer) check;
    ``pre_excluded`` (key -> (code, reason)) excludes providers for the
    caller's own reasons (the gateway's credentials, circuit breaker, ...).
    """
    forced = force_excluded if isinstance(force_excluded, (set, frozenset)) else frozenset(force_excluded)
    multipliers = _priority_multipliers(query.priority, weights)
    candidates: list[Candidate] = []
    excluded: dict[str, str] = {}
    best: Candidate | None = None
    best_spec: ProviderSpec | None = None
    token_count = query.token_count
    task_type = query.task_type
    for p in providers:
        cost = token_count * p.cost_per_1m / 1e6
        if pre_excluded and p.key in pre_excluded:
            code, reason = pre_excluded[p.key]
            candidates.append(Candidate(key=p.key, name=p.name, request_cost=cost, excluded=code, reason=reason))
            excluded[p.key] = reason
            continue
        # The common case (enabled, healthy, capable, fits, affordable) is tested
        # inline; only an excluded provider pays for _exclusion's message.
        if (
            p.enabled
            and p.healthy
            and (not task_type or task_type in p.capabilities)
            and token_count <= p.context_window
            and p.key not in forced
            and (p.cost_per_1m <= 0 or cost <= hard_cap_remaining)
        ):
            why = None
        else:
            why = _exclusion(p, query, cost, -INF if p.key in forced else hard_cap_remaining)
        if why is not None:
            candidates.append(Candidate(key=p.key, name=p.name, request_cost=cost, excluded=why[0], reason=why[1]))
            excluded[p.key] = why[1]
            continue
        cand = score_candidate(p, query, cost, remaining_budget, weights, multipliers)
        candidates.append(cand)
        # Strictly greater: on a tie the earlier provider (display order) stays.
        if best is None or cand.score > best.score:  # type: ignore[operator]
            best, best_spec = cand, p
    decision = Decision(candidates=candidates, excluded=excluded)
    if best is None:
        over_budget = any(c.excluded == EXCLUDED_BUDGET for c in candidates)
        decision.error_code = "BUDGET_EXCEEDED" if over_budget else "NO_SUITABLE_PROVIDER"
        return decision
    decision.chosen = best
    decision.reasoning = reasoning_for(best, best_spec, query, remaining_budget, weights)  # type: ignore[arg-type]
    decision.confidence = shown(min(1.0, max(0.0, best.score)))  # type: ignore[arg-type, type-var]
    return decision
