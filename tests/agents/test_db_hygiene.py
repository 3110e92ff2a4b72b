"""Connection upkeep of worker threads (agents' ORM handlers, the router's fast path)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections

from agents.protocol import ErrorCode, ProtocolError
from agents.runtime import db_hygiene
from agents.runtime.db_hygiene import run_with_db_hygiene


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def _in_worker(worker: ThreadPoolExecutor, func: Any) -> Any:
    return worker.submit(run_with_db_hygiene, func).result(timeout=30)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_recovers_from_a_killed_connection_after_one_failed_call():
    """A database restart (here: the worker's backend terminated) costs at most one call."""
    worker = ThreadPoolExecutor(1)
    try:
        first = _in_worker(worker, _backend_pid)
        with connection.cursor() as cursor:  # the test's own connection kills the worker's
            cursor.execute("SELECT pg_terminate_backend(%s)", [first])
        outcomes = []
        for _ in range(2):
            try:
                outcomes.append(_in_worker(worker, _backend_pid))
            except Exception as exc:  # the call that met the dead connection
                outcomes.append(type(exc).__name__)
        assert isinstance(outcomes[-1], int) and outcomes[-1] != first  # a fresh backend answered
    finally:
        worker.submit(connections.close_all).result(timeout=30)
        worker.shutdown()


@pytest.mark.django_db(transaction=True)
def test_the_connection_check_runs_at_most_once_a_second_per_thread(monkeypatch):
    checks: list[int] = []
    real_check = db_hygiene.close_old_connections

    def counted_check() -> None:  # Django's own check, counted
        checks.append(1)
        real_check()

    monkeypatch.setattr(db_hygiene, "close_old_connections", counted_check)
    worker = ThreadPoolExecutor(1)
    try:
        for _ in range(50):
            assert _in_worker(worker, lambda: 7) == 7
        assert len(checks) == 1
        # A failure other than a protocol answer checks again at once.
        with pytest.raises(ZeroDivisionError):
            _in_worker(worker, lambda: 1 / 0)
        assert len(checks) == 2

        def refuse() -> None:
            raise ProtocolError(ErrorCode.VALIDATION_ERROR, "no")

        with pytest.raises(ProtocolError):
            _in_worker(worker, refuse)
        assert len(checks) == 2  # an answer is not a database failure
    finally:
        worker.shutdown()
