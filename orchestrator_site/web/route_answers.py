"""POST /api/route-llm's answers, for its fast path and its DRF view alike.

The decision's fields are declared once, in ``llmrouter.serializers.RouteAnswerSerializer``
(which also documents them in the OpenAPI schema); this adds the envelope around them.
"""

from __future__ import annotations

from typing import Any

from agents import protocol
from agents.protocol import ErrorCode
from llmrouter.serializers import route_answer
from llmrouter.services import RouteResult


def route_success(result: RouteResult, request_id: Any = None) -> dict[str, Any]:
    """The seed's flat response (provider, reasoning, estimated_cost, confidence) plus ours."""
    body = route_answer(result)
    body["status"] = "success"
    body["timestamp"] = protocol.utc_timestamp()
    if request_id is not None:
        body["id"] = request_id
    return body


def internal_error(request_id: Any = None) -> dict[str, Any]:
    return protocol.error(request_id, ErrorCode.INTERNAL_ERROR, "Internal error; see the server log")


def caller_request_id(payload: Any) -> Any:
    """The caller's id (echoed back), None without one; a non-scalar id is refused
    with INVALID_REQUEST, as POST /api/request does."""
    if not isinstance(payload, dict):
        return None
    rid = protocol.request_id_of(payload)
    if rid is not None:
        protocol.check_request_id(rid)
    return rid
