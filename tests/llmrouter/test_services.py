"""route_request and usage_settle against the real database."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connections

from agents.protocol import ErrorCode, ProtocolError
from llmrouter import selectors, services
from llmrouter.models import Budget, LedgerEntry, Provider, RouteLog, RouterWeights
from llmrouter.serializers import route_answer


def test_worked_example_is_routed_logged_and_free(seed_router):
    result = services.route_request(
        token_count=5000, task_type="coding", priority="high", max_latency=3000, interface="claude-code"
    )
    assert result.provider_name == "Local Llama"
    assert result.confidence == pytest.approx(0.6048)
    log = RouteLog.objects.get(decision_id=result.decision_id)
    assert (log.outcome, log.provider_key, log.interface, log.token_count) == (
        "routed",
        "local-llama",
        "claude-code",
        5000,
    )
    by_key = {c["provider"]: c for c in log.candidates}
    assert by_key["claude-sonnet-4"]["score"] == pytest.approx(0.1368)
    assert by_key["gemini-pro"]["excluded"] == "no_capability"
    assert not LedgerEntry.objects.exists()  # a free provider reserves nothing


def test_logged_and_returned_candidates_are_rounded_scores_and_exact_money(seed_router):
    result = services.route_request(token_count=5000, task_type="coding", priority="high", max_latency=3000)
    returned = {c["provider"]: c for c in route_answer(result)["candidates"]}
    logged = {c["provider"]: c for c in RouteLog.objects.get(decision_id=result.decision_id).candidates}
    for by_key in (returned, logged):
        scores = [by_key[k]["score"] for k in ("local-llama", "gpt-4-turbo", "claude-sonnet-4")]
        assert scores == [0.6048, 0.3024, 0.1368]
        assert by_key["claude-sonnet-4"]["request_cost"] == 0.075
    Provider.objects.filter(key="gpt-4-turbo").update(cost_per_1m="7.1")
    odd = services.route_request(token_count=1234, task_type="creative")
    costs = {c["provider"]: c["request_cost"] for c in odd.candidates}
    assert costs["gpt-4-turbo"] == 0.0087614  # the float formula says 0.008761399999999999
    assert RouteLog.objects.get(decision_id=odd.decision_id).confidence == odd.confidence == round(odd.confidence, 6)


def test_paid_route_reserves_its_exact_cost_in_the_ledger(seed_router):
    result = services.route_request(token_count=12_345, task_type="analysis")
    assert result.provider_key == "gemini-pro"
    entry = LedgerEntry.objects.get(route__decision_id=result.decision_id)
    assert entry.kind == "reservation"
    assert entry.amount_nanos == 86_415_000  # 12345 * $7 / 1e6 = $0.086415
    assert result.estimated_cost == pytest.approx(0.086415)


def test_unhealthy_and_disabled_providers_are_not_routed_to(seed_router):
    Provider.objects.filter(key="local-llama").update(health_state="unhealthy")
    assert services.route_request(token_count=5000, task_type="coding").provider_key == "gpt-4-turbo"
    Provider.objects.filter(key="gpt-4-turbo").update(enabled=False)
    assert services.route_request(token_count=5000, task_type="coding").provider_key == "claude-sonnet-4"


def test_edited_weights_change_the_next_decision(seed_router):
    before = services.route_request(token_count=5000, task_type="analysis")
    # Price and latency barely matter any more: quality decides.
    RouterWeights.objects.filter(pk=1).update(cost_scale=1000.0, latency_scale_ms=1e9)
    after = services.route_request(token_count=5000, task_type="analysis")
    assert (before.provider_key, after.provider_key) == ("gemini-pro", "claude-sonnet-4")


def test_reservations_count_in_the_window_of_their_local_day(seed_router):
    Budget.objects.update(timezone="Europe/Berlin", amount="0.05")
    late = datetime(2026, 1, 15, 22, 59, tzinfo=UTC)  # 23:59 in Berlin
    services.route_request(token_count=5000, task_type="analysis", now=late)  # $0.035
    with pytest.raises(ProtocolError) as refused:
        services.route_request(token_count=5000, task_type="analysis", now=late)
    assert refused.value.code == ErrorCode.BUDGET_EXCEEDED
    # Local midnight: a new window with the whole budget again.
    next_day = datetime(2026, 1, 15, 23, 0, 1, tzinfo=UTC)
    assert services.route_request(token_count=5000, task_type="analysis", now=next_day).provider_key == "gemini-pro"
    budget = Budget.objects.get()
    assert selectors.budget_status(budget=budget, now=late)["spent"] == pytest.approx(0.035)
    assert selectors.budget_status(budget=budget, now=next_day)["spent"] == pytest.approx(0.035)


def test_settlement_adds_the_difference_and_is_idempotent(seed_router):
    routed = services.route_request(token_count=5000, task_type="analysis")  # $0.035 reserved
    first = services.usage_settle(decision_id=routed.decision_id, prompt_tokens=3000, completion_tokens=4000)
    assert first.actual_cost_nanos == 49_000_000 and not first.already_settled  # 7000 * $7 / 1e6
    again = services.usage_settle(decision_id=routed.decision_id, prompt_tokens=3000, completion_tokens=4000)
    assert again.already_settled and again.actual_cost_nanos == first.actual_cost_nanos
    entries = LedgerEntry.objects.filter(route__decision_id=routed.decision_id).order_by("id")
    assert [(e.kind, e.amount_nanos) for e in entries] == [("reservation", 35_000_000), ("settlement", 14_000_000)]
    assert selectors.budgets_status()[0]["spent"] == pytest.approx(0.049)
    with pytest.raises(ProtocolError) as conflict:
        services.usage_settle(decision_id=routed.decision_id, prompt_tokens=1, completion_tokens=1)
    assert conflict.value.code == ErrorCode.CONFLICT


def test_settlement_keeps_the_reservations_window_and_price(seed_router):
    routed = services.route_request(
        token_count=1000, task_type="analysis", now=datetime(2026, 1, 1, 23, 59, tzinfo=UTC)
    )
    Provider.objects.filter(key="gemini-pro").update(cost_per_1m=100)
    services.usage_settle(
        decision_id=routed.decision_id,
        prompt_tokens=500,
        completion_tokens=0,
        now=datetime(2026, 1, 2, 0, 5, tzinfo=UTC),
    )
    settlement = LedgerEntry.objects.get(kind="settlement")
    assert settlement.charged_at == datetime(2026, 1, 1, 23, 59, tzinfo=UTC)
    assert settlement.amount_nanos == 3_500_000 - 7_000_000  # 500 tokens at the routed $7, minus the estimate


def test_settling_unknown_or_refused_decisions_is_an_error(seed_router):
    with pytest.raises(ProtocolError) as missing:
        services.usage_settle(decision_id="rt_nope", prompt_tokens=1, completion_tokens=1)
    assert missing.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ProtocolError) as refused:
        services.route_request(token_count=10, task_type="vision")
    with pytest.raises(ProtocolError) as conflict:
        services.usage_settle(decision_id=refused.value.details["decision_id"], prompt_tokens=1, completion_tokens=1)
    assert conflict.value.code == ErrorCode.CONFLICT


@pytest.mark.django_db(transaction=True)
def test_concurrent_settlements_write_one_entry():
    from tests.llmrouter.conftest import load_seed

    load_seed()
    routed = services.route_request(token_count=5000, task_type="analysis")
    barrier = threading.Barrier(8)
    outcomes = []

    def settle() -> None:
        barrier.wait(timeout=30)
        try:
            outcomes.append(
                services.usage_settle(decision_id=routed.decision_id, prompt_tokens=10, completion_tokens=10)
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=settle) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(outcomes) == 8
    assert sum(not o.already_settled for o in outcomes) == 1
    assert LedgerEntry.objects.filter(kind="settlement").count() == 1


def test_the_ledger_is_append_only(seed_router):
    services.route_request(token_count=5000, task_type="analysis")
    entry = LedgerEntry.objects.get()
    entry.amount_nanos = 0
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        entry.delete()
    with pytest.raises(TypeError):
        LedgerEntry.objects.update(amount_nanos=0)
    with pytest.raises(TypeError):
        LedgerEntry.objects.all().delete()
    assert LedgerEntry.objects.get().amount_nanos == 35_000_000


def test_seed_data_is_loaded_by_the_migration(db):
    assert list(Provider.objects.values_list("key", flat=True)) == [
        "claude-sonnet-4",
        "gpt-4-turbo",
        "gemini-pro",
        "local-llama",
    ]
    budget = Budget.objects.get()
    assert (budget.amount, budget.period, budget.timezone, budget.hard_cap) == (100, "daily", "UTC", True)
    assert budget.warning_threshold == 0.8
    assert RouterWeights.objects.get(pk=1).cost_scale == 20.0


def test_spend_from_checkpoints_equals_the_full_ledger_sum(seed_router, monkeypatch):
    from llmrouter import store
    from llmrouter.models import LedgerCheckpoint

    monkeypatch.setattr(store, "CHECKPOINT_EVERY", 3)
    day = datetime(2026, 6, 1, 12, tzinfo=UTC)
    routed = [services.route_request(token_count=1000 + i, task_type="analysis", now=day) for i in range(10)]
    services.usage_settle(decision_id=routed[0].decision_id, prompt_tokens=1, completion_tokens=0, now=day)
    services.route_request(token_count=10, task_type="analysis", now=day)  # sees the settlement
    assert LedgerCheckpoint.objects.count() >= 3
    budget = Budget.objects.get()
    start, end = budget.window(day)
    assert selectors.spend_nanos(start=start, end=end) == sum(
        LedgerEntry.objects.filter(charged_at__gte=start, charged_at__lt=end).values_list("amount_nanos", flat=True)
    )


def test_a_rolled_back_decision_takes_its_checkpoint_with_it(seed_router):
    from django.db import transaction

    from llmrouter.models import LedgerCheckpoint

    day = datetime(2026, 6, 2, 12, tzinfo=UTC)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.route_request(token_count=5000, task_type="analysis", now=day)
        assert LedgerCheckpoint.objects.count() == 1
        raise RuntimeError("caller failed after routing")
    assert not LedgerCheckpoint.objects.exists() and not LedgerEntry.objects.exists()
    assert selectors.budgets_status(now=day)[0]["spent"] == 0


def test_a_batch_decides_in_order_as_if_one_by_one(seed_router):
    Budget.objects.update(amount="0.07")  # two $0.035 requests
    request = {"token_count": 5000, "task_type": "analysis", "priority": "medium", "max_latency": 0.0}
    outcomes = services.route_requests([request, request, request, {**request, "task_type": "coding"}])
    assert [getattr(o, "provider_key", None) for o in outcomes] == ["gemini-pro", "gemini-pro", None, "local-llama"]
    assert isinstance(outcomes[2], ProtocolError) and outcomes[2].code == ErrorCode.BUDGET_EXCEEDED
    assert LedgerEntry.objects.count() == 2 and RouteLog.objects.count() == 4


def test_a_batch_writes_each_reservation_against_its_own_decision(seed_router):
    """The batch's rows go out in one INSERT per table: every ledger entry must still point at its own log."""
    _assert_batch_rows_match()


@pytest.mark.postgres
def test_a_batch_writes_each_reservation_against_its_own_decision_on_postgres(seed_router):
    """The same through PostgreSQL's multi-row INSERT ... RETURNING on a RawCursor."""
    assert connections["default"].vendor == "postgresql"
    _assert_batch_rows_match()


def _assert_batch_rows_match() -> None:
    requests = [{"token_count": 1000 * (i + 1), "task_type": "analysis", "interface": f"client-{i}"} for i in range(30)]
    requests[7] = {"token_count": 10, "task_type": "coding", "interface": "free"}  # local-llama: no reservation
    requests[11] = {"token_count": 10, "task_type": "vision", "interface": "refused"}  # nobody does vision
    outcomes = services.route_requests(requests)
    routed = {o.decision_id: o for o in outcomes if not isinstance(o, ProtocolError)}
    assert RouteLog.objects.count() == 30 and len(routed) == 29
    entries = list(LedgerEntry.objects.select_related("route"))
    assert len(entries) == 28  # the free and the refused decisions reserve nothing
    for entry in entries:
        assert entry.route is not None
        decision = routed[entry.route.decision_id]
        assert entry.route.interface.startswith("client-")
        # Each request had its own size, so its own price: $7 per 1M tokens of gemini-pro.
        assert entry.amount_nanos == entry.route.token_count * 7_000 == decision.estimated_cost_nanos
        assert entry.provider_key == decision.provider_key == entry.route.provider_key == "gemini-pro"
    assert RouteLog.objects.get(interface="refused").outcome == ErrorCode.NO_SUITABLE_PROVIDER
    assert RouteLog.objects.get(interface="free").provider_key == "local-llama"


def test_capabilities_match_without_regard_to_case(seed_router):
    Provider.objects.filter(key="gemini-pro").update(capabilities=["Analysis"])
    assert services.route_request(token_count=5000, task_type="ANALYSIS").provider_key == "gemini-pro"
