"""Giving memory back after an overload burst.

20,000 queued requests took the orchestrator from about 50 to 145 MB, and it
stayed at about 125 MB once every answer was written: the requests' frames,
dicts and buffers were freed, but freed memory stays with the process.
CPython's small-object allocator keeps an arena (256 KiB) while any object in
it lives, and glibc's malloc keeps freed heap memory below its trim threshold
(raised dynamically up to 32 MiB after large frees) for reuse. Nothing refers
to the requests any more; the memory is just not returned.

``MemoryReturn`` watches the number of requests in the orchestrator. When a
burst of at least ``threshold`` has drained, it runs a full garbage
collection and asks glibc to return every free page to the system
(``malloc_trim(0)``: it also releases free pages in the middle of the heap,
which ordinary trimming cannot). It runs once per burst, on the loop, when
nothing is waiting (it takes a few milliseconds at most). On a libc without
``malloc_trim`` (musl, macOS) only the collection runs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import time
from typing import Any

logger = logging.getLogger(__name__)

BURST_THRESHOLD = 1000


def _malloc_trim() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class MemoryReturn:
    def __init__(self, threshold: int = BURST_THRESHOLD) -> None:
        self.threshold = threshold
        self.peak = 0
        self.returns = 0
        self._trim = _malloc_trim()

    def observe(self, in_flight: int) -> None:
        """Called by the periodic tick with the requests in the orchestrator (pending and queued)."""
        if in_flight > self.peak:
            self.peak = in_flight
        elif in_flight == 0 and self.peak >= self.threshold:
            self.give_back()

    def give_back(self) -> None:
        started = time.perf_counter()
        peak, self.peak = self.peak, 0
        gc.collect()
        if self._trim is not None:
            self._trim(0)
        self.returns += 1
        logger.info(
            "A burst of %d requests drained: returned free memory to the system in %.1f ms",
            peak,
            (time.perf_counter() - started) * 1000,
        )
