"""Garbage-collector settings for the long-running serving processes: orchestrator, agents, web (Daphne).

Measured on the socket echo path: with CPython's default threshold (700 net
new container objects) the collector ran about every 250 requests, because a
pipelined window keeps ~1000 requests (dicts, Pending entries, coroutines)
alive at once; it took 10-15% of the orchestrator's CPU. Almost nothing on the
hot path forms reference cycles (everything is freed by reference counting;
the web process under gateway load: 0 objects in cycles over a second with
``gc.DEBUG_SAVEALL``), so collecting less often costs little memory.

``gc.freeze()`` moves everything that exists after start-up (Django, DRF,
Twisted, the models, the settings; 100-130k objects) out of the collector's
reach, so the rare full collections no longer walk it. The web process had
been left out: there, under load, a full collection ran about every 1.3 s and
took 56-103 ms with the event loop stopped, which was the gateway's p99 at 32
clients (bench/gateway.md).
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger(__name__)

# Net new container objects between young-generation collections (CPython's default: 700).
SERVING_GC_THRESHOLD = 10_000


def gc_tune_for_serving(*, threshold: int = SERVING_GC_THRESHOLD) -> None:
    """Call once, after imports and set-up, right before (or as) the event loop starts serving."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(threshold, gen1, gen2)
    logger.info(
        "garbage collector tuned for serving: %d start-up objects frozen, young-generation threshold %d",
        gc.get_freeze_count(),
        threshold,
    )
