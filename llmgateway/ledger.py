"""The gateway's decisions and settlements, on the router's database thread, batched.

Each item is a decision to make (the next attempt), a settlement to write (a finished attempt), or
both: a failover's settlement of the failed attempt travels with the next decision, in the same
transaction and before it, so the money the first reservation held is free for the second. Items that
arrive while the thread is busy are written together (``services.route_requests``: one lock, one
commit), as the router's fast path does for /api/route-llm.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from llmgateway import events
from llmrouter import services
from llmrouter.dbthread import batched
from llmrouter.settlement import GatewaySettlement

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Op:
    route: dict[str, Any] | None = None  # route_requests' request (gateway.route_kwargs)
    settlement: GatewaySettlement | None = None


def _run(ops: list[Op]) -> list[Any]:
    routes = [op.route for op in ops if op.route is not None]
    outcomes = iter(services.route_requests(routes, settlements=[op.settlement for op in ops if op.settlement]))
    return [next(outcomes) if op.route is not None else None for op in ops]


def _gateway_batch(ops: list[Op]) -> list[Any]:
    """One transaction for the batch; if it fails as a whole, each op alone (one bad apple)."""
    try:
        return _run(ops)
    except Exception:
        if len(ops) == 1:
            raise
        logger.exception("batch of %d gateway ops failed; retrying them one by one", len(ops))
    outcomes: list[Any] = []
    for op in ops:
        try:
            outcomes.extend(_run([op]))
        except Exception as exc:  # noqa: BLE001 - handed to that op's caller
            outcomes.append(exc)
    return outcomes


async def decide(route: dict[str, Any], *, settle: GatewaySettlement | None = None) -> services.RouteResult:
    """The next attempt's decision, after ``settle``; raises the ProtocolError that refuses it."""
    try:
        return await batched(Op(route=route, settlement=settle), _gateway_batch)
    finally:
        if settle is not None and settle.events:
            await events.publish(settle.events)


async def settle(settlement: GatewaySettlement) -> None:
    await batched(Op(settlement=settlement), _gateway_batch)
    if settlement.events:
        await events.publish(settlement.events)
