"""The gateway's per-provider circuit breaker: pure state transitions, no Django.

closed --(N consecutive failures)--> open --(cool-down over, a request is routed to it)--> half_open
half_open --(the probe succeeds)--> closed;  half_open --(the probe fails)--> open again
A half-open provider takes one request (the probe) at a time; should the probe never report back (its
process died), the claim lapses at ``until`` and the next request probes again.

The state lives in the provider's row and changes only inside the router's budget-locked transaction,
so every web process sees the same breaker and two processes cannot both claim the probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures_to_open: int = 3
    cooldown_s: float = 30.0
    probe_timeout_s: float = 120.0


@dataclass(frozen=True, slots=True)
class BreakerState:
    state: str = CLOSED
    failures: int = 0
    until: datetime | None = None


def blocking_reason(s: BreakerState, now: datetime) -> str | None:
    """Why the gateway may not route to the provider now, or None (closed, or free to probe)."""
    if s.state == OPEN and s.until is not None and s.until > now:
        return f"circuit open after {s.failures} consecutive failures; cooling down until {s.until:%H:%M:%S} UTC"
    if s.state == HALF_OPEN and s.until is not None and s.until > now:
        return "circuit half-open: a probe request is in flight"
    return None


def is_probe(s: BreakerState) -> bool:
    """Whether a request routed to a provider in this (unblocked) state is its probe."""
    return s.state != CLOSED


def claim_probe(s: BreakerState, now: datetime, policy: BreakerPolicy) -> BreakerState:
    return BreakerState(HALF_OPEN, s.failures, now + timedelta(seconds=policy.probe_timeout_s))


def after_success(s: BreakerState) -> BreakerState:
    return BreakerState()


def after_failure(s: BreakerState, now: datetime, policy: BreakerPolicy) -> BreakerState:
    failures = s.failures + 1
    if s.state == HALF_OPEN or failures >= policy.failures_to_open:
        return BreakerState(OPEN, failures, now + timedelta(seconds=policy.cooldown_s))
    return BreakerState(s.state, failures, s.until)


def after_neutral(s: BreakerState, now: datetime) -> BreakerState:
    """A probe that proved nothing (the client left before the first byte): let the next request probe."""
    return BreakerState(OPEN, s.failures, now) if s.state == HALF_OPEN else s
