"""The web process's garbage collector: the heap that start-up built is frozen once the server runs.

CPython's full collection walks every tracked object, and most of the web process's are the ~130,000
that importing Django, DRF, Twisted, Channels and the apps made at start-up, none of which ever becomes
garbage. Under load the defaults ran one about every 1.3 s, each 56-103 ms with the loop stopped: the
p99 of /v1/ at 32 clients (100-120 ms) was those pauses, and 5 % of the process's time went to them
(measured with ``gc.callbacks`` in bench/bench_gateway.py's Daphne). ``gc.freeze()`` moves that heap to
the permanent generation, out of every collection's reach: full collections then walk only what the
requests made since (bench/gateway.md has the before and after). Objects made later are collected as
usual; the cost is that garbage cycles already present at the freeze would never be collected, so a
collection runs first.
"""

from __future__ import annotations

import gc
import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect, then freeze what is left; returns how many objects are frozen (0 when WEB["GC_FREEZE"] is off)."""
    if not settings.WEB["GC_FREEZE"]:
        return 0
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    logger.info("froze the %d objects of start-up out of the garbage collector's walks (WEB_GC_FREEZE)", frozen)
    return frozen
