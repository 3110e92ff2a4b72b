"""Input validation for routing and usage requests, shared by every entry point.

The DRF views, the async HTTP fast path, WebSocket and socket handlers all
call these, so one request is judged the same way whatever carried it. Errors
are ProtocolError(VALIDATION_ERROR) naming the field, which every transport
turns into the wire protocol's error body.
"""

from __future__ import annotations

from typing import Any

from agents.protocol import ErrorCode, ProtocolError
from llmrouter.scoring import PRIORITIES

MAX_TOKENS = 100_000_000
MAX_TASK_TYPE = 50
MAX_INTERFACE = 100


def _invalid(field: str, message: str) -> ProtocolError:
    return ProtocolError(ErrorCode.VALIDATION_ERROR, message, {"field": field})


def _int_field(data: dict[str, Any], name: str, *, required: bool, default: int = 0) -> int:
    if name not in data or data[name] is None:
        if required:
            raise _invalid(name, f"'{name}' is required (a non-negative integer)")
        return default
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, f"'{name}' must be an integer, got {type(value).__name__}")
    if value < 0 or value > MAX_TOKENS:
        raise _invalid(name, f"'{name}' must be between 0 and {MAX_TOKENS}")
    return value


def _str_field(data: dict[str, Any], name: str, *, default: str, max_length: int) -> str:
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise _invalid(name, f"'{name}' must be a string, got {type(value).__name__}")
    value = value.strip()
    if len(value) > max_length:
        raise _invalid(name, f"'{name}' must be at most {max_length} characters")
    return value


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "The request body must be a JSON object")
    return data


def parse_route_request(data: Any, *, default_interface: str = "api") -> dict[str, Any]:
    """The seed's request -> keyword arguments for ``services.route_request``."""
    data = _object(data)
    token_count = _int_field(data, "token_count", required=True)
    task_type = _str_field(data, "task_type", default="", max_length=MAX_TASK_TYPE).lower()
    priority = _str_field(data, "priority", default="medium", max_length=10).lower() or "medium"
    if priority not in PRIORITIES:
        raise _invalid("priority", f"'priority' must be one of {', '.join(PRIORITIES)}")
    max_latency = data.get("max_latency")
    if max_latency is None:
        max_latency = 0.0
    elif (
        isinstance(max_latency, bool)
        or not isinstance(max_latency, (int, float))
        or max_latency < 0
        or max_latency != max_latency
        or max_latency == float("inf")
    ):
        raise _invalid("max_latency", "'max_latency' must be a non-negative number of milliseconds (0: no limit)")
    interface = _str_field(data, "interface", default=default_interface, max_length=MAX_INTERFACE) or default_interface
    return {
        "token_count": token_count,
        "task_type": task_type,
        "priority": priority,
        "max_latency": float(max_latency),
        "interface": interface,
    }


def parse_usage(data: Any) -> dict[str, int]:
    """A usage report -> keyword arguments for ``services.usage_settle`` (without the decision id)."""
    data = _object(data)
    return {
        "prompt_tokens": _int_field(data, "prompt_tokens", required=True),
        "completion_tokens": _int_field(data, "completion_tokens", required=True),
    }
