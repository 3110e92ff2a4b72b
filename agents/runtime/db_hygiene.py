"""Database connection upkeep for threads that run ORM code outside Django's request cycle.

Django closes stale or broken connections at the start and end of every
request (``close_old_connections``); agent worker threads and the router's
fast-path thread have no requests, so they call this around each piece of
work instead. Not on every call: with ``conn_health_checks`` the check is a
``SELECT 1`` round trip on PostgreSQL, about 0.2 ms per ORM action measured
here, so a thread checks at most once a second, and again right after a
failure so a connection the failure left unusable is dropped before the next
call (after a database restart one call may fail; the next reconnects).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import close_old_connections

from agents.protocol import ProtocolError

T = TypeVar("T")

CHECK_EVERY_S = 1.0
_thread_state = threading.local()


def run_with_db_hygiene(func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``func`` on this (worker) thread, keeping the thread's connection healthy."""
    now = time.monotonic()
    if now - getattr(_thread_state, "checked", -CHECK_EVERY_S) >= CHECK_EVERY_S:
        close_old_connections()
        _thread_state.checked = now
    try:
        return func(*args, **kwargs)
    except ProtocolError:
        raise  # an answer, not a database failure
    except Exception:
        close_old_connections()
        raise
