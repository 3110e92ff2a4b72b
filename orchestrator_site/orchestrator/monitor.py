"""The periodic provider monitor, run in a worker thread, its events fanned out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections

from orchestrator_site.orchestrator.events import EventHub

logger = logging.getLogger(__name__)


def _load_monitor() -> Callable[[], dict[str, Any]] | None:
    # A plain import: an ImportError inside llmrouter is a bug to see at the first pass, not "no router".
    from llmrouter.monitor import run_monitor_pass

    return run_monitor_pass


def _pass(func: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    close_old_connections()
    try:
        return func()
    finally:
        close_old_connections()


async def monitor_loop(
    interval_s: float, events: EventHub, load: Callable[[], Callable[[], dict[str, Any]] | None] = _load_monitor
) -> None:
    """Every ``interval_s``: one monitor pass in a thread; its events go to subscribers. Runs until cancelled.

    ``load`` returns the pass function (llmrouter.monitor.run_monitor_pass by default), looked up at each
    pass so a router installed later is picked up.
    """
    while True:
        await asyncio.sleep(interval_s)
        func = load()
        if func is None:
            logger.debug("llmrouter.monitor is not available; skipping the monitor pass")
            continue
        try:
            result = await asyncio.to_thread(_pass, func)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Monitor pass failed")
            continue
        for event in (result or {}).get("events", []) or []:
            if isinstance(event, dict) and isinstance(event.get("event"), str):
                fields = {k: v for k, v in event.items() if k not in ("event", "type", "timestamp")}
                events.publish(event["event"], **fields)
