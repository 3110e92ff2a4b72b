"""Response bodies shared by the DRF views and the async fast path."""
from __future__ import annotations

from typing import Any

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from llmrouter.services import RouteResult
from orchestrator_site.web.status_codes import http_status_for


def route_success(result: RouteResult, request_id: Any = None) -> dict[str, Any]:
    """The seed's flat response (provider, reasoning, estimated_cost, confidence) plus ours."""
    body = result.as_response()
    body["status"] = "success"
    body["timestamp"] = protocol.utc_timestamp()
    if request_id is not None:
        body["id"] = request_id
    return body


def error_body(exc: ProtocolError, request_id: Any = None) -> tuple[int, dict[str, Any]]:
    """The wire protocol's error frame and the HTTP status it travels with."""
    frame = exc.to_frame(request_id)
    return http_status_for(frame), frame


def internal_error(request_id: Any = None) -> tuple[int, dict[str, Any]]:
    return 500, protocol.error(request_id, ErrorCode.INTERNAL_ERROR, "Internal error; see the server log")


def caller_request_id(payload: Any) -> Any:
    """The caller's id (echoed back), None without one; a non-scalar id is refused
    with INVALID_REQUEST, as POST /api/request does."""
    if not isinstance(payload, dict):
        return None
    rid = protocol.request_id_of(payload)
    if rid is not None:
        protocol.check_request_id(rid)
    return rid
