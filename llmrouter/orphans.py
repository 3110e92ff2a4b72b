"""Gateway calls whose process ended before settling them (killed, out of memory, the machine lost).

A gateway call is settled by the web process that made it, after the call (``settlement.gateway_settle``).
If that process dies first, the call keeps its reservation (the worst case it could cost: the budget stays
safe) but has no settlement and no attempt record, and the route log never says what became of it. These
are found by their route log (a gateway decision, ``request_id`` set, that routed; neither an attempt record
nor a settlement) once they are older than any call can live, and settled as ``interrupted`` at the
reservation, marked ``estimated``: what the provider billed is unknown, so the worst case stays charged.

Two steps, so the database thread that routes is never held by a scan: ``candidates`` reads (any thread, no
lock), ``settle`` writes (under the budget lock, in one transaction, checking each candidate again, so two
processes sweeping at once cannot settle one call twice).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction

from llmrouter import settlement, store, windows
from llmrouter.models import LedgerEntry, RouteAttempt, RouteLog

LOST = "the gateway process ended before this call was settled (settled by a later sweep at its reservation)"


def candidates(*, after: datetime, before: datetime, limit: int = 500) -> list[int]:
    """Route log ids of gateway decisions made in [after, before) that routed, with no attempt record and no
    settlement, oldest first."""
    rows = (
        RouteLog.objects.filter(
            created_at__gte=after,
            created_at__lt=before,
            outcome=RouteLog.OUTCOME_ROUTED,
            attempt_record__isnull=True,
        )
        .exclude(request_id="")  # decision-only routes (/api/route-llm): their callers report usage themselves
        .exclude(ledger__kind=LedgerEntry.Kind.SETTLEMENT)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)
    )
    return list(rows[:limit])


def settle(route_pks: list[int], *, now: datetime | None = None) -> list[str]:
    """Settle those of ``route_pks`` still unsettled as interrupted, estimated; their decision ids."""
    now = now or windows.utc_now()
    with transaction.atomic():
        store.lock_active_budgets()  # every ledger write holds the budget lock
        routes = list(
            RouteLog.objects.filter(pk__in=route_pks, attempt_record__isnull=True)
            .exclude(ledger__kind=LedgerEntry.Kind.SETTLEMENT)
            .order_by("pk")
        )
        # A free provider's decision reserved nothing (no entry): it is settled at 0, in its decision's window.
        reserved = {
            e.route_id: e
            for e in LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESERVATION, route_id__in=[r.pk for r in routes])
        }
        lost = [_lost(route, reserved.get(route.pk)) for route in routes]
        if lost:
            settlement.gateway_settle(lost, now=now)
    return [s.decision_id for s in lost]


def _lost(route: RouteLog, reservation: LedgerEntry | None) -> settlement.GatewaySettlement:
    return settlement.GatewaySettlement(
        route_pk=route.pk,
        decision_id=route.decision_id,
        request_id=route.request_id,
        attempt=route.attempt,
        provider_pk=route.provider_id,
        provider_key=route.provider_key,
        reserved_nanos=reservation.amount_nanos if reservation is not None else 0,
        reserved_at=reservation.charged_at if reservation is not None else route.created_at,
        prices=settlement.Prices(
            route.cost_per_1m if route.cost_per_1m is not None else Decimal(0),
            route.input_cost_per_1m,
            route.output_cost_per_1m,
            route.cached_input_cost_per_1m,
        ),
        outcome=RouteAttempt.Outcome.INTERRUPTED,
        usage_source=settlement.ESTIMATED,
        error=LOST,
        health="neutral",  # the provider did nothing wrong that we know of
    )
