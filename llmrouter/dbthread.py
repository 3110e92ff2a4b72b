"""The router's database thread: ORM work of the async HTTP paths, queued and batched.

``route_request`` (ORM, one short transaction) runs on a small dedicated thread
pool, never on the event loop. The pool has one thread by default: every routing
transaction takes the same budget lock, so a second thread would only wait on it
(and on SQLite on the file lock too) while splitting the queue into smaller batches.

Requests that arrive while the pool is busy are queued and routed together in one
transaction (``services.route_requests``): the same decisions, in arrival order, as
if routed one by one, but one lock, one read of the providers and one commit per
batch. A lone request is never delayed: it goes to the pool at once when a thread is
free. POST /api/route-llm (the web package's fast_route.py) and the gateway
(llmgateway/ledger.py, its decisions and settlements; llmgateway/asgi.py, /v1/models)
queue their work here, each with its own batch function.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from django.db import connections

from agents.runtime.db_hygiene import run_with_db_hygiene
from llmrouter import conf, services
from orchestrator_common.per_loop import PerLoop

logger = logging.getLogger(__name__)

MAX_BATCH = 64

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=conf.route_workers(), thread_name_prefix="route-llm")
    return _executor


def close_pool_connections(timeout: float = 30.0) -> None:
    """Close the database connection of every pool thread (shutdown, tests).

    One task per thread, each waiting at a barrier until all are running, so
    every thread of the pool runs exactly one of them.
    """
    if _executor is None:
        return
    workers = _executor._max_workers
    barrier = threading.Barrier(workers)

    def close() -> None:
        barrier.wait(timeout)
        connections.close_all()

    for future in [_executor.submit(close) for _ in range(workers)]:
        future.result(timeout)


def _route_batch(requests: list[dict[str, Any]]) -> list[Any]:
    """One transaction for the batch; if it fails as a whole, each request alone (one bad apple)."""
    try:
        return services.route_requests(requests)
    except Exception:
        if len(requests) == 1:
            raise
        logger.exception("batch of %d route requests failed; retrying them one by one", len(requests))
    outcomes: list[Any] = []
    for request in requests:
        try:
            outcomes.extend(services.route_requests([request]))
        except Exception as exc:  # noqa: BLE001 - handed to that request's caller
            outcomes.append(exc)
    return outcomes


class _Batcher:
    """Per event loop: queues route requests and hands them to the pool in batches.

    ``batch_fn`` runs on the pool with the queued items and returns one outcome per item
    (``_route_batch`` here; the gateway queues its decisions and settlements through its own).
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, batch_fn: Callable[[list[Any]], list[Any]] = _route_batch
    ) -> None:
        self.loop = loop
        self.batch_fn = batch_fn
        self.workers = conf.route_workers()
        self.pending: list[tuple[dict[str, Any], asyncio.Future]] = []
        self.running = 0

    def submit(self, kwargs: dict[str, Any]) -> asyncio.Future:
        future = self.loop.create_future()
        self.pending.append((kwargs, future))
        if self.running < self.workers:
            self._launch()
        return future

    def _launch(self) -> None:
        batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
        self.running += 1
        job = self.loop.run_in_executor(executor(), run_with_db_hygiene, self.batch_fn, [k for k, _ in batch])
        # The job is kept by this callback until it finishes; every waiter gets its outcome or the failure.
        job.add_done_callback(partial(self._finished, batch))

    def _finished(self, batch: list[tuple[dict[str, Any], asyncio.Future]], job: asyncio.Future) -> None:
        self.running -= 1
        if job.cancelled() or job.exception() is not None:
            failure = asyncio.CancelledError() if job.cancelled() else job.exception()
            outcomes: list[Any] = [failure] * len(batch)
        else:
            outcomes = job.result()
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the caller went away
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        if self.pending:
            self._launch()


# This loop's batcher of each batch function.
_batchers: PerLoop[dict[Callable, _Batcher]] = PerLoop(lambda loop: {})


def batched(item: Any, batch_fn: Callable[[list[Any]], list[Any]] = _route_batch) -> asyncio.Future:
    """Queue one item for ``batch_fn`` on this loop's batcher of it; await its outcome (or exception)."""
    per_loop = _batchers.get()
    batcher = per_loop.get(batch_fn)
    if batcher is None:
        batcher = per_loop[batch_fn] = _Batcher(asyncio.get_running_loop(), batch_fn)
    return batcher.submit(item)


def route_batched(kwargs: dict[str, Any]) -> asyncio.Future:
    """Route one request through this loop's batcher; await the result (or its ProtocolError)."""
    return batched(kwargs)
