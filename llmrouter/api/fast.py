"""The async fast path for POST /api/route-llm (registered in asgi.py).

Same contract as ``views.RouteLLMView`` and the same validation and service;
it only skips Django's middleware cycle. ``route_request`` (ORM, one short
transaction) runs on a small dedicated thread pool, never on the event loop.
The pool has one thread by default: every routing transaction takes the same
budget lock, so a second thread would only wait on it (and on SQLite on the
file lock too) while splitting the queue into smaller batches.

Requests that arrive while the pool is busy are queued and routed together
in one transaction (``services.route_requests``): the same decisions, in
arrival order, as if routed one by one, but one lock, one read of the
providers and one commit per batch. A lone request is never delayed: it goes
to the pool at once when a thread is free.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from django.db import connections

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from agents.runtime.db_hygiene import run_with_db_hygiene
from llmrouter import conf, services, validation
from llmrouter.api import responses
from orchestrator_site.fast_http import BodyTooLarge, FastHttpDispatcher, read_body, send_json
from orchestrator_site.web.admission import route_llm_admit, token_or_no_session
from orchestrator_site.web.fast_request import respond
from orchestrator_site.web.principals import token_from_headers

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
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


async def run_db(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run an ORM function on the router's pool and await its result."""
    return await asyncio.get_running_loop().run_in_executor(executor(), partial(run_with_db_hygiene, fn, **kwargs))


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

    def __init__(self, loop: asyncio.AbstractEventLoop, batch_fn: Callable[[list[Any]], list[Any]] = _route_batch
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


_batchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Callable, _Batcher]] = \
    weakref.WeakKeyDictionary()


def batched(item: Any, batch_fn: Callable[[list[Any]], list[Any]] = _route_batch) -> asyncio.Future:
    """Queue one item for ``batch_fn`` on this loop's batcher of it; await its outcome (or exception)."""
    loop = asyncio.get_running_loop()
    per_loop = _batchers.get(loop)
    if per_loop is None:
        per_loop = _batchers[loop] = {}
    batcher = per_loop.get(batch_fn)
    if batcher is None:
        batcher = per_loop[batch_fn] = _Batcher(loop, batch_fn)
    return batcher.submit(item)


def route_batched(kwargs: dict[str, Any]) -> asyncio.Future:
    """Route one request through this loop's batcher; await the result (or its ProtocolError)."""
    return batched(kwargs)


async def route_llm(scope: dict[str, Any], receive: Any, send: Any) -> None:
    request_id = None
    # The same per-token / per-client limit and anonymous policy as RouteLLMView.
    refusal = await route_llm_admit(scope, allow_anonymous=conf.get("ROUTE_ALLOW_ANONYMOUS"))
    if refusal is not None:
        await respond(send, refusal)
        return
    try:
        payload = protocol.decode(await read_body(receive, max_bytes=MAX_BODY_BYTES) or b"")
        request_id = responses.caller_request_id(payload)
        kwargs = validation.parse_route_request(payload)
        # Admission refused bad tokens: a request without one is anonymous (the anonymous budget share).
        kwargs["anonymous"] = token_from_headers(scope.get("headers", ())) is None
        result = await route_batched(kwargs)
    except ProtocolError as exc:
        status, body = responses.error_body(exc, request_id)
        await send_json(send, status, body)
        return
    except BodyTooLarge:
        await send_json(send, 413, protocol.error(None, ErrorCode.MESSAGE_TOO_LARGE,
                                                  f"Body larger than {MAX_BODY_BYTES} bytes"))
        return
    except ConnectionResetError:
        return  # the client left before sending its body
    except Exception:
        logger.exception("route-llm fast path failed")
        status, body = responses.internal_error(request_id)
        await send_json(send, status, body)
        return
    await send_json(send, 200, responses.route_success(result, request_id))


def register_fast_paths(dispatcher: FastHttpDispatcher) -> None:
    """Put POST /api/route-llm in front of Django unless settings say otherwise.

    Callers with a token, or without a session cookie, are served here (with
    anonymous routing off, those without a token get 401 here too); a
    session-authenticated POST goes to the DRF view, which does its CSRF check.
    """
    if conf.get("FAST_PATH"):
        dispatcher.register("/api/route-llm", route_llm, methods=("POST",), when=token_or_no_session)
