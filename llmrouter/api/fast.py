"""The async fast path for POST /api/route-llm (registered in asgi.py).

Same contract as ``views.RouteLLMView`` and the same validation and service;
it only skips Django's middleware cycle. ``route_request`` (ORM, one short
transaction) runs on a small dedicated thread pool, never on the event loop.
On SQLite the pool has one thread: there is one writer at a time anyway, and
a second thread would only wait on the file lock with SQLite's sleeping
back-off instead of in a queue.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from django.db import close_old_connections

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from llmrouter import conf, services, validation
from llmrouter.api import responses
from orchestrator_site.fast_http import BodyTooLarge, FastHttpDispatcher, read_body, send_json
from orchestrator_site.web.admission import route_llm_admit
from orchestrator_site.web.fast_request import respond

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
# How often a pool thread lets Django close an expired or broken connection
# (the request cycle does it per request; per second is plenty here).
_CONNECTION_CHECK_S = 1.0

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_thread_state = threading.local()


def executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=conf.route_workers(), thread_name_prefix="route-llm")
    return _executor


def _in_db_thread(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    now = time.monotonic()
    if now - getattr(_thread_state, "checked", 0.0) > _CONNECTION_CHECK_S:
        close_old_connections()
        _thread_state.checked = now
    try:
        return fn(**kwargs)
    except ProtocolError:
        raise
    except Exception:
        close_old_connections()  # drop a connection the failure left unusable
        raise


async def run_db(fn: Callable[..., Any], **kwargs: Any) -> Any:
    """Run an ORM function on the router's pool and await its result."""
    return await asyncio.get_running_loop().run_in_executor(executor(), _in_db_thread, fn, kwargs)


async def route_llm(scope: dict[str, Any], receive: Any, send: Any) -> None:
    request_id = None
    # The same per-token / per-client limit as RouteLLMView's throttle classes.
    refusal = await route_llm_admit(scope)
    if refusal is not None:
        await respond(send, refusal)
        return
    try:
        payload = protocol.decode(await read_body(receive, max_bytes=MAX_BODY_BYTES) or b"")
        request_id = responses.safe_request_id(payload)
        kwargs = validation.parse_route_request(payload)
        result = await run_db(services.route_request, **kwargs)
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

    With anonymous routing switched off the Django view answers (it does the
    authentication); the fast path only serves the open endpoint.
    """
    if conf.get("FAST_PATH") and conf.get("ROUTE_ALLOW_ANONYMOUS"):
        dispatcher.register("/api/route-llm", route_llm, methods=("POST",))
