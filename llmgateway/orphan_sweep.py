"""The web process's sweep for gateway calls that a dead process left unsettled (``llmrouter/orphans.py``).

Started when the server runs, it looks every GATEWAY_ORPHAN_SWEEP_S (60 s, the first time that long after
the start) at the decisions older than any call can live (GATEWAY_TOTAL_TIMEOUT_S plus
GATEWAY_ORPHAN_GRACE_S), each window once: the first sweep reaches back GATEWAY_ORPHAN_LOOKBACK_S (a day),
so a restart after a crash settles what the crash left.
The scan runs on a thread of its own (no lock), the settlement on the router's database thread, so routing
never waits for a scan. A restarted process and its siblings may sweep the same window: ``orphans.settle``
checks each call again under the budget lock.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

from agents.runtime.db_hygiene import run_with_db_hygiene
from llmgateway import conf, shutdown
from llmrouter import orphans, windows
from llmrouter.dbthread import batched

logger = logging.getLogger(__name__)

# Candidates settled per transaction, and transactions per window at most (a call that cannot be settled must
# not keep a sweep busy: it is logged and found again next time).
BATCH = 500
MAX_ROUNDS = 20

_task: asyncio.Task | None = None


def _settle_batch(items: list[list[int]]) -> list[list[str]]:
    return [orphans.settle(pks) for pks in items]


async def sweep(*, after: datetime, before: datetime) -> list[str]:
    """Settle the unsettled gateway calls decided in [after, before); their decision ids."""
    settled: list[str] = []
    for _ in range(MAX_ROUNDS):
        pks = await asyncio.to_thread(run_with_db_hygiene, orphans.candidates, after=after, before=before, limit=BATCH)
        if not pks:
            break
        done = await batched(pks, _settle_batch)
        settled += done
        if len(pks) < BATCH or not done:
            break
    if settled:
        logger.warning(
            "settled %d gateway call(s) a stopped process left unsettled, as interrupted at their reservations: %s",
            len(settled),
            ", ".join(settled[:20]) + (" ..." if len(settled) > 20 else ""),
        )
    return settled


async def _run(every_s: float) -> None:
    last: datetime | None = None
    while True:
        # First wait, then sweep: nothing a crash left can be old enough yet in a process's first moments, and a
        # start's own work (and a burst of clients arriving with it) goes first.
        await asyncio.sleep(every_s)
        before = windows.utc_now() - timedelta(
            seconds=float(conf.get("TOTAL_TIMEOUT_S")) + float(conf.get("ORPHAN_GRACE_S"))
        )
        after = last if last is not None else before - timedelta(seconds=float(conf.get("ORPHAN_LOOKBACK_S")))
        try:
            await sweep(after=after, before=before)
            last = before
        except Exception:  # noqa: BLE001 - a failed sweep is tried again (same window) next time
            logger.exception("gateway orphan sweep failed")


def start() -> Any:
    """Start this process's sweep on the running loop (once); stopped with the server."""
    global _task
    every_s = float(conf.get("ORPHAN_SWEEP_S"))
    if every_s <= 0 or _task is not None:
        return None
    _task = asyncio.get_running_loop().create_task(_run(every_s))
    shutdown.on_server_stop(_stop)
    return _task


async def _stop() -> None:
    global _task
    task, _task = _task, None
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
