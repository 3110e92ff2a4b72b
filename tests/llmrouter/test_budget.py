"""The hard cap under concurrency, and money that runs out."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections

from agents.protocol import ErrorCode, ProtocolError
from llmrouter import selectors, services, windows
from llmrouter.models import LedgerEntry, RouteLog
from tests.llmrouter.conftest import load_seed

# 5000 "analysis" tokens go to Gemini Pro at $0.035 (Claude scores lower and
# costs more), so a $1.75 budget covers exactly 50 of them.
ANALYSIS: dict[str, Any] = {"token_count": 5000, "task_type": "analysis", "priority": "medium", "max_latency": 0.0}
PER_REQUEST = Decimal("0.035")
COVERED = 50
REQUESTS = 200


def _race(max_db_clients: int) -> tuple[list, list]:
    """REQUESTS threads released together; each routes once. Returns (results, errors)."""
    barrier = threading.Barrier(REQUESTS)
    # PostgreSQL here allows 100 connections for every engineer's tests: the
    # threads share a bounded set, as behind any connection pool.
    db_slots = threading.BoundedSemaphore(max_db_clients)
    results, errors, crashes = [], [], []
    lock = threading.Lock()

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            with db_slots:
                try:
                    result = services.route_request(**ANALYSIS, interface=f"race-{i % 4}")
                    with lock:
                        results.append(result)
                except ProtocolError as exc:
                    with lock:
                        errors.append(exc)
                finally:
                    connections.close_all()
        except Exception as exc:  # noqa: BLE001 - reported below
            with lock:
                crashes.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(REQUESTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not crashes, crashes[:3]
    assert not any(t.is_alive() for t in threads)
    return results, errors


def _assert_cap_held(results: list, errors: list) -> None:
    budget = PER_REQUEST * COVERED
    assert len(results) + len(errors) == REQUESTS
    reserved = sum(r.estimated_cost_nanos for r in results)
    assert reserved <= budget * 10**9
    now = windows.utc_now()
    status = selectors.budgets_status(now=now)[0]
    assert Decimal(str(status["spent"])) <= budget
    start, end = windows.window_bounds("daily", "UTC", now)
    assert selectors.spend_nanos(start=start, end=end) == reserved
    assert len(results) == COVERED  # every request that fit got through, none more
    assert {r.provider_key for r in results} == {"gemini-pro"}
    assert Counter(e.code for e in errors) == {ErrorCode.BUDGET_EXCEEDED: REQUESTS - COVERED}
    for e in errors:
        assert set(e.details["excluded"]) == {"claude-sonnet-4", "gpt-4-turbo", "gemini-pro", "local-llama"}
        assert "remaining hard-capped budget" in e.details["excluded"]["gemini-pro"]
        assert e.details["excluded"]["local-llama"] == "does not support analysis tasks"
    assert RouteLog.objects.count() == REQUESTS
    assert LedgerEntry.objects.filter(kind="reservation").count() == COVERED


@pytest.fixture(autouse=True)
def frequent_checkpoints(monkeypatch):
    # Exercise spend checkpoints inside the race, not only the plain sum.
    from llmrouter import store

    monkeypatch.setattr(store, "CHECKPOINT_EVERY", 5)


@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_exceed_budget():
    load_seed(budget=PER_REQUEST * COVERED)
    # SQLite: 200 connections to one file are fine. Any other engine: bounded.
    results, errors = _race(max_db_clients=REQUESTS if connection.vendor == "sqlite" else 24)
    _assert_cap_held(results, errors)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_reservations_never_exceed_budget_on_postgres():
    assert connection.vendor == "postgresql"
    load_seed(budget=PER_REQUEST * COVERED)
    results, errors = _race(max_db_clients=24)
    _assert_cap_held(results, errors)


@pytest.mark.django_db
def test_free_provider_stays_routable_when_the_money_is_gone(seed_router):
    seed_router(budget=PER_REQUEST)
    assert services.route_request(**ANALYSIS).provider_key == "gemini-pro"
    with pytest.raises(ProtocolError) as refused:
        services.route_request(**ANALYSIS)
    assert refused.value.code == ErrorCode.BUDGET_EXCEEDED
    coding = services.route_request(token_count=5000, task_type="coding", priority="high")
    assert coding.provider_key == "local-llama" and coding.estimated_cost_nanos == 0


@pytest.mark.django_db
def test_without_hard_cap_an_over_budget_provider_is_scored_at_0_1_and_may_overspend(seed_router):
    seed_router(budget="0.01", hard_cap=False)
    result = services.route_request(**ANALYSIS)
    assert result.provider_key == "gemini-pro"
    gemini = next(c for c in result.candidates if c["provider"] == "gemini-pro")
    assert gemini["cost_factor"] == pytest.approx(0.1)
    assert selectors.budgets_status()[0]["spent"] == pytest.approx(0.035)


@pytest.mark.django_db
def test_no_capable_provider_is_refused_with_every_exclusion_and_logged(seed_router):
    with pytest.raises(ProtocolError) as refused:
        services.route_request(token_count=10, task_type="vision")
    exc = refused.value
    assert exc.code == ErrorCode.NO_SUITABLE_PROVIDER
    assert len(exc.details["excluded"]) == 4
    log = RouteLog.objects.get(decision_id=exc.details["decision_id"])
    assert log.outcome == "NO_SUITABLE_PROVIDER" and log.provider_key == ""
    assert not LedgerEntry.objects.exists()
