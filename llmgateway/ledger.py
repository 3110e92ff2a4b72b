"""The gateway's decisions and settlements, on the router's database thread, batched.

Each item is a decision to make (the next attempt) with the settlements that travel with it (finished
attempts), or settlements alone. A failover's settlement of the failed attempt travels with the next
decision, in the same transaction and before it, so the money the first reservation held is free for
the second. Items that arrive while the thread is busy are written together (``services.route_requests``:
one lock, one commit), as the router's fast path does for /api/route-llm.

A settlement is written after the client has its answer, so it need not be written at once: it waits
up to GATEWAY_SETTLE_LINGER_S (5 ms) for the next decision of this process and rides in that decision's transaction.
On SQLite a commit costs about 0.2 ms of CPU whatever it holds, and at one client the settlement's own
transaction would run just as the next request wants the database thread; sharing it takes one of the
two transactions per call away (bench/gateway.md). The reservation holds the worst case meanwhile, so
the budget is never short of what was spent. When the server stops, settlements are written at once and the
lingering ones before it exits (``shutdown.py``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any

from llmgateway import conf, events, shutdown
from llmrouter import services
from llmrouter.dbthread import batched
from llmrouter.settlement import GatewaySettlement
from orchestrator_common.per_loop import PerLoop

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Op:
    route: dict[str, Any] | None = None  # route_requests' request (gateway.route_kwargs)
    settlements: tuple[GatewaySettlement, ...] = ()


def _run(ops: list[Op]) -> list[Any]:
    routes = [op.route for op in ops if op.route is not None]
    outcomes = iter(services.route_requests(routes, settlements=[s for op in ops for s in op.settlements]))
    return [next(outcomes) if op.route is not None else None for op in ops]


def _gateway_batch(ops: list[Op]) -> list[Any]:
    """One transaction for the batch. If it fails as a whole: each settlement alone, then each decision alone
    (one bad apple; a settlement that cannot be written is logged here and never fails the decision it
    travelled with)."""
    try:
        return _run(ops)
    except Exception:
        if len(ops) == 1 and not ops[0].settlements:
            raise  # one decision alone: its caller gets the error
        logger.exception("batch of %d gateway ops failed; retrying them one by one", len(ops))
    outcomes: list[Any] = []
    for op in ops:
        for s in op.settlements:
            try:
                _run([Op(settlements=(s,))])
            except Exception:  # noqa: BLE001 - to settle by hand: the reservation still holds the worst case
                logger.exception("could not settle gateway decision %s", s.decision_id)
        try:
            outcomes.extend(_run([Op(route=op.route)]) if op.route is not None else [None])
        except Exception as exc:  # noqa: BLE001 - handed to that op's caller
            outcomes.append(exc)
    return outcomes


def _submit(op: Op) -> asyncio.Future:
    """Queue ``op`` on the database thread; once its settlements are written, publish their events."""
    job = batched(op, _gateway_batch)
    if op.settlements:
        job.add_done_callback(partial(_written, op.settlements))
    return job


def _written(settlements: tuple[GatewaySettlement, ...], job: asyncio.Future) -> None:
    from agents.protocol import ProtocolError

    failure = asyncio.CancelledError() if job.cancelled() else job.exception()
    if failure is not None and not isinstance(failure, ProtocolError):  # a refusal still wrote them
        logger.error(
            "gateway settlements %s travelled with a failed batch (%r); see the log above",
            ", ".join(s.decision_id for s in settlements),
            failure,
        )
        return
    published = [event for s in settlements for event in s.events]
    if published:
        task = asyncio.ensure_future(events.publish(published))
        _publishing.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(_publishing.discard)


_publishing: set[asyncio.Future] = set()


class _Lingering:
    """This loop's settlements waiting for a decision to ride with, and the timer that writes them anyway."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.waiting: list[GatewaySettlement] = []
        self.timer: asyncio.TimerHandle | None = None
        shutdown.on_server_stop(self.flush_and_wait)

    def add(self, settlement: GatewaySettlement) -> None:
        self.waiting.append(settlement)
        if shutdown.stopping():  # no next decision is coming
            self.flush()
        elif self.timer is None:
            # The default 5 ms: long enough for the next request of a busy client (about 1.5 ms apart at one
            # client), short enough that the ledger is never more than a moment behind.
            self.timer = self.loop.call_later(float(conf.get("SETTLE_LINGER_S")), self.flush)

    def take(self) -> tuple[GatewaySettlement, ...]:
        taken, self.waiting = tuple(self.waiting), []
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        return taken

    def flush(self) -> asyncio.Future | None:
        """Write the waiting settlements on their own (no decision came in time)."""
        taken = self.take()
        return _submit(Op(settlements=taken)) if taken else None

    async def flush_and_wait(self) -> None:
        job = self.flush()
        if job is not None:
            await job  # a failed settlement is logged in the batch; the batch's own failure by _written


_lingering: PerLoop[_Lingering] = PerLoop(_Lingering)


async def decide(route: dict[str, Any], *, settle: GatewaySettlement | None = None) -> services.RouteResult:
    """The next attempt's decision, written after the lingering settlements and ``settle`` (a failed attempt of
    this request) in one transaction; raises the ProtocolError that refuses it."""
    settlements = _lingering.get().take() + ((settle,) if settle is not None else ())
    return await _submit(Op(route=route, settlements=settlements))


def settle(settlement: GatewaySettlement) -> None:
    """Queue a finished attempt's settlement: it rides with this process's next decision, or is written on its
    own within GATEWAY_SETTLE_LINGER_S. Failures are logged with the decision id (the reservation still holds)."""
    _lingering.get().add(settlement)
