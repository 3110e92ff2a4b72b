"""Allocations racing in real threads, each with its own database connection.

The same tests run on SQLite (the default) and, marked ``postgres``, on
PostgreSQL: DATABASE_URL=postgres://... pytest tests/naming -m postgres
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from agents.naming import services
from agents.naming.models import Capability, Namespace, SequenceCounter
from agents.protocol import ErrorCode, ProtocolError

from .conftest import SETTINGS

pytestmark = pytest.mark.django_db(transaction=True)


def run_in_threads(count: int, work: Callable[[int], Any], timeout_s: float = 240.0) -> list[Any]:
    """Run work(0..count-1) in ``count`` threads released together; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = work(index)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()  # a thread's connection must not outlive it

    threads = [threading.Thread(target=run, args=(i,), name=f"alloc-{i}") for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout_s)
    assert not any(t.is_alive() for t in threads), "allocation threads hung"
    if errors:
        raise errors[0]
    return results


def key(text: str) -> str | None:
    return services.idempotency_key_for(idempotency_key=text)


# --- 500 allocations, one project and environment ------------------------------------


def check_500_concurrent_allocations_are_distinct_and_gap_free(threads: int = 20, total: int = 500) -> None:
    project = f"p{uuid.uuid4().hex[:10]}"
    per_thread = total // threads

    def work(index: int) -> list[tuple[int | None, str, str]]:
        out = []
        for _ in range(per_thread):
            ns = services.namespace_allocate(project=project, environment="test", settings=SETTINGS).obj
            out.append((ns.sequence, ns.name, ns.cid))
        return out

    allocated = [item for chunk in run_in_threads(threads, work) for item in chunk]
    sequences = sorted(seq for seq, _, _ in allocated)
    assert sequences == list(range(1, total + 1))
    assert len({name for _, name, _ in allocated}) == total
    assert len({cid for _, _, cid in allocated}) == total
    assert Namespace.objects.filter(project=project).count() == total
    assert SequenceCounter.objects.get(scope=f"namespace:{project}.test").last_value == total


def test_500_concurrent_allocations_get_distinct_gap_free_numbers():
    check_500_concurrent_allocations_are_distinct_and_gap_free()


@pytest.mark.postgres
def test_500_concurrent_allocations_get_distinct_gap_free_numbers_on_postgres():
    assert connection.vendor == "postgresql"
    check_500_concurrent_allocations_are_distinct_and_gap_free()


# --- duplicate idempotency keys racing ----------------------------------------------------


def check_racing_duplicate_keys_allocate_once_per_key(threads: int = 16, keys: int = 10) -> None:
    project = f"p{uuid.uuid4().hex[:10]}"
    tag = uuid.uuid4().hex[:8]

    def work(index: int) -> dict[int, tuple[str, str]]:
        answers = {}
        # Every thread asks for every key, each thread in a different order.
        for k in sorted(range(keys), key=lambda k: (k * (index + 1)) % keys):
            ns = services.namespace_allocate(
                project=project, environment="dev", settings=SETTINGS, idempotency_key=key(f"{tag}-{k}")
            ).obj
            answers[k] = (ns.name, ns.cid)
        return answers

    results = run_in_threads(threads, work)
    for k in range(keys):
        assert len({answers[k] for answers in results}) == 1, f"key {k} got several allocations"
    # type-var: sequence is nullable in the model (a None here would fail the sort, and the test).
    sequences = Namespace.objects.filter(project=project).values_list("sequence", flat=True)
    assert sorted(sequences) == list(range(1, keys + 1))  # type: ignore[type-var]
    # The losers' numbers were rolled back: the next allocation continues without a gap.
    assert services.namespace_allocate(project=project, environment="dev", settings=SETTINGS).obj.sequence == keys + 1


def test_racing_duplicate_idempotency_keys_allocate_once_per_key():
    check_racing_duplicate_keys_allocate_once_per_key()


@pytest.mark.postgres
def test_racing_duplicate_idempotency_keys_allocate_once_per_key_on_postgres():
    assert connection.vendor == "postgresql"
    check_racing_duplicate_keys_allocate_once_per_key()


# --- the same explicit name racing ---------------------------------------------------------


def check_racing_explicit_names_one_wins_the_rest_collide(threads: int = 12) -> None:
    project = f"p{uuid.uuid4().hex[:10]}"
    name = f"{project}.prod.shared"

    def work(index: int) -> tuple[str, Any]:
        try:
            ns = services.namespace_allocate(project=project, environment="prod", namespace=name, settings=SETTINGS)
            return "won", ns.obj.cid
        except ProtocolError as exc:
            return exc.code, exc.details

    results = run_in_threads(threads, work)
    winners = [cid for outcome, cid in results if outcome == "won"]
    losers = [details for outcome, details in results if outcome == ErrorCode.NAMESPACE_COLLISION]
    assert len(winners) == 1 and len(losers) == threads - 1
    assert all(d["existing_namespace"] == name and d["cid"] == winners[0] for d in losers)


def test_racing_explicit_names_one_wins_and_the_rest_get_namespace_collision():
    check_racing_explicit_names_one_wins_the_rest_collide()


@pytest.mark.postgres
def test_racing_explicit_names_one_wins_and_the_rest_get_namespace_collision_on_postgres():
    assert connection.vendor == "postgresql"
    check_racing_explicit_names_one_wins_the_rest_collide()


# --- capabilities ---------------------------------------------------------------------------


def check_concurrent_capabilities_are_numbered_per_domain(threads: int = 10, per_thread: int = 10) -> None:
    domain = f"D{uuid.uuid4().hex[:8].upper()}"

    def work(index: int) -> list[str]:
        return [
            services.capability_allocate(domain=domain, name=f"cap {index} {i}", settings=SETTINGS).obj.capability_id
            for i in range(per_thread)
        ]

    ids = [cap for chunk in run_in_threads(threads, work) for cap in chunk]
    assert sorted(ids) == sorted(f"CAP-{domain}-{n}" for n in range(1, threads * per_thread + 1))
    assert Capability.objects.filter(domain=domain).count() == threads * per_thread


def test_concurrent_capabilities_get_distinct_gap_free_numbers_per_domain():
    check_concurrent_capabilities_are_numbered_per_domain()


@pytest.mark.postgres
def test_concurrent_capabilities_get_distinct_gap_free_numbers_per_domain_on_postgres():
    assert connection.vendor == "postgresql"
    check_concurrent_capabilities_are_numbered_per_domain()
