"""Gateway calls a dead process left unsettled: found by their route log, settled once as interrupted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from llmrouter import gateway, orphans, services, windows
from llmrouter.models import LedgerEntry, Provider, RouteLog
from tests.llmrouter.test_gateway_decisions import fail_over_from, route

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unsettled_gateway_call_is_settled_once_as_interrupted_at_its_reservation(gateway_seed):
    Provider.objects.exclude(key="gpt-4-turbo").update(enabled=False)  # a priced one: the call reserves money
    q = gateway.GatewayQuery(prompt_tokens=100, completion_tokens=200)
    lost = route(q)  # its process "died": never settled
    decision_only = services.route_request(token_count=300, task_type="coding", priority="high")
    settled_first = route(q)
    fail_over_from(settled_first)  # its first attempt is settled; the failover decision (attempt 2) is not
    later = windows.utc_now() + timedelta(seconds=1)
    earlier = later - timedelta(hours=1)

    found = orphans.candidates(after=earlier, before=later)
    pks = {r.decision_id: r.pk for r in RouteLog.objects.all()}
    assert pks[lost.decision_id] in found
    assert pks[decision_only.decision_id] not in found  # its caller reports usage itself
    assert pks[settled_first.decision_id] not in found
    assert orphans.candidates(after=earlier, before=earlier + timedelta(seconds=1)) == []  # outside the window

    assert lost.decision_id in orphans.settle(found)
    attempt = RouteLog.objects.get(decision_id=lost.decision_id).attempt_record
    assert attempt.outcome == "interrupted" and attempt.usage_source == "estimated" and attempt.error == orphans.LOST
    entries = {e.kind: e for e in LedgerEntry.objects.filter(route__decision_id=lost.decision_id)}
    assert entries["settlement"].amount_nanos == 0 and entries["reservation"].amount_nanos > 0  # worst case kept
    assert entries["settlement"].charged_at == entries["reservation"].charged_at  # in the reservation's window

    assert orphans.settle(found) == []  # a second sweep (another process) settles nothing twice
    assert orphans.candidates(after=earlier, before=later) == []


def test_a_free_providers_unsettled_call_is_settled_at_zero(gateway_seed):
    Provider.objects.exclude(key="local-llama").update(enabled=False)  # $0: nothing is reserved
    lost = route(gateway.GatewayQuery(prompt_tokens=100, completion_tokens=200))
    later = windows.utc_now() + timedelta(seconds=1)
    assert orphans.settle(orphans.candidates(after=later - timedelta(hours=1), before=later)) == [lost.decision_id]
    [entry] = LedgerEntry.objects.filter(route__decision_id=lost.decision_id)
    assert entry.kind == "settlement" and entry.amount_nanos == 0 and entry.usage_source == "estimated"
