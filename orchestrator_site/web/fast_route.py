"""POST /api/route-llm without Django's middleware: a plain ASGI handler (registered in asgi.py).

Same contract as the DRF view (``router_api.RouteLLMView``): the same admission
(``admission.route_llm_admit``), validation (``llmrouter.validation``), service and
answers (``route_answers``); it only skips Django's middleware cycle. The decision is
made on the router's database thread, batched with the requests queued beside it
(``llmrouter.dbthread``).
"""

from __future__ import annotations

import logging
from typing import Any

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from llmrouter import conf, validation
from llmrouter.dbthread import route_batched
from orchestrator_site.fast_http import BodyTooLarge, FastHttpDispatcher, read_body
from orchestrator_site.web.admission import principal_from_scope, route_llm_admit, token_or_no_session
from orchestrator_site.web.envelope_responses import send_envelope
from orchestrator_site.web.principals import AuthenticationFailed
from orchestrator_site.web.route_answers import caller_request_id, internal_error, route_success

logger = logging.getLogger(__name__)

PATH = "/api/route-llm"
MAX_BODY_BYTES = 64 * 1024


async def route_llm(scope: dict[str, Any], receive: Any, send: Any) -> None:
    try:
        principal = await principal_from_scope(scope)
    except AuthenticationFailed as exc:
        await send_envelope(send, ProtocolError(ErrorCode.UNAUTHORIZED, str(exc)).to_frame(None))
        return
    refusal = await route_llm_admit(principal=principal)
    if refusal is not None:
        await send_envelope(send, refusal.to_frame(None))
        return
    request_id = None
    try:
        payload = protocol.decode(await read_body(receive, max_bytes=MAX_BODY_BYTES) or b"")
        request_id = caller_request_id(payload)
        kwargs = validation.parse_route_request(payload)
        # Admission refused bad tokens: a request without one is anonymous (the anonymous budget share).
        kwargs["anonymous"] = not principal.is_authenticated
        frame = route_success(await route_batched(kwargs), request_id)
    except ProtocolError as exc:
        frame = exc.to_frame(request_id)
    except BodyTooLarge:
        frame = protocol.error(None, ErrorCode.MESSAGE_TOO_LARGE, f"Body larger than {MAX_BODY_BYTES} bytes")
    except ConnectionResetError:
        return  # the client left before sending its body
    except Exception:
        logger.exception("route-llm fast path failed")
        frame = internal_error(request_id)
    await send_envelope(send, frame)


def register_fast_paths(dispatcher: FastHttpDispatcher) -> None:
    """Put POST /api/route-llm in front of Django unless settings say otherwise.

    Callers with a token, or without a session cookie, are served here (with
    anonymous routing off, those without a token get 401 here too); a
    session-authenticated POST goes to the DRF view, which does its CSRF check.
    """
    if conf.get("FAST_PATH"):
        dispatcher.register(PATH, route_llm, methods=("POST",), when=token_or_no_session)
