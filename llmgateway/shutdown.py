"""What the gateway does when Daphne stops (SIGTERM), once the requests Daphne cancels have cleaned up.

Daphne's own "before shutdown" trigger (registered when it starts, so before ours) cancels every request's
task; a cancelled gateway call then queues its settlement in a ``finally``. Our trigger sets ``stopping()``
first, so from then on settlements are written at once instead of lingering for a next decision that will not
come, lets the loop turn so the cancelled requests run their cleanup, then runs each registered step in order
(write the lingering settlements, close the upstream session). Twisted waits for all of it before the
reactor stops. Not under Daphne (a test's own loop, another server), nothing is registered.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

_steps: list[Callable[[], Awaitable[Any]]] = []
_stopping = False
_registered = False


def stopping() -> bool:
    """True once the server has begun to stop."""
    return _stopping


def on_server_stop(step: Callable[[], Awaitable[Any]]) -> None:
    """Run ``step`` when the server stops, after the steps registered before it."""
    global _registered
    reactor = sys.modules.get("twisted.internet.reactor")
    if reactor is None or not getattr(reactor, "running", False):
        return
    _steps.append(step)
    if not _registered:
        _registered = True
        reactor.addSystemEventTrigger("before", "shutdown", _trigger)


def _trigger() -> Any:
    global _stopping
    from twisted.internet.defer import Deferred

    # Set here, not in _stop: Twisted calls Daphne's trigger (it cancels every request's task) and then this one
    # in the same turn of the loop, and the cancelled tasks' cleanup runs on the next turn, before _stop's first
    # step would. Set now, every cleanup sees it.
    _stopping = True
    return Deferred.fromFuture(asyncio.ensure_future(_stop()))  # Twisted waits for it


async def _stop() -> None:
    # The cancelled requests run their cleanup on the next turns of the loop (a stream's relay awaits its own
    # tasks' ends first); settlements queued after this point are written at once, so none can be left behind.
    for _ in range(3):
        await asyncio.sleep(0)
    for step in _steps:
        try:
            await step()
        except Exception:  # noqa: BLE001 - one failed step must not keep the others from running
            logger.exception("gateway shutdown step %r failed", step)
