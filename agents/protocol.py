"""The wire protocol: one JSON object per line, shared by every side.

The orchestrator, the agents, the clients, the Redis transports and the web
process all frame, parse and answer through this module; there is no second
parser anywhere. It has no Django import so the hot paths stay lean.

Request (aliases accepted: ``params`` for ``data``, ``request_id`` for ``id``;
with neither ``data`` nor ``params`` the other top-level keys are the data)::

    {"id": "req_1", "agent": "naming", "action": "allocate_namespace",
     "data": {...}, "timeout_ms": 5000, "idempotency_key": "...",
     "interface": "claude-code"}

Success: ``{"id", "status": "success", "data", "timestamp", "processing_time_ms"}``
Error:   ``{"id", "status": "error", "error": {"code", "message", "details"}, "timestamp"}``
"""
from __future__ import annotations

import itertools
import os
import time
from enum import StrEnum
from typing import Any

import orjson

DEFAULT_MAX_FRAME_BYTES = 1024 * 1024

# Top-level request keys that are envelope, not data (used when a request has
# neither "data" nor "params" and the remaining keys are taken as the data).
ENVELOPE_KEYS = frozenset(
    {"id", "request_id", "agent", "action", "data", "params", "timeout_ms",
     "idempotency_key", "interface", "type", "token", "reply_to"}
)


class ErrorCode(StrEnum):
    INVALID_JSON = "INVALID_JSON"
    INVALID_REQUEST = "INVALID_REQUEST"
    MESSAGE_TOO_LARGE = "MESSAGE_TOO_LARGE"
    UNKNOWN_AGENT = "UNKNOWN_AGENT"
    UNKNOWN_ACTION = "UNKNOWN_ACTION"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    AGENT_UNAVAILABLE = "AGENT_UNAVAILABLE"
    AGENT_DISCONNECTED = "AGENT_DISCONNECTED"
    TIMEOUT = "TIMEOUT"
    OVERLOADED = "OVERLOADED"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"  # authenticated, but not allowed this action (HTTP 403)
    RATE_LIMITED = "RATE_LIMITED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    NO_SUITABLE_PROVIDER = "NO_SUITABLE_PROVIDER"
    NAMESPACE_COLLISION = "NAMESPACE_COLLISION"
    CONFLICT = "CONFLICT"
    NOT_FOUND = "NOT_FOUND"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    # HTTP only: the method, the Accept header or the body's media type is not served (405, 406, 415).
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INTERNAL_ERROR = "INTERNAL_ERROR"


class ProtocolError(Exception):
    """An error that becomes an error frame. Raise it anywhere a request is handled."""

    def __init__(self, code: ErrorCode | str, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.details = details or {}

    def to_frame(self, request_id: Any = None) -> dict[str, Any]:
        return error(request_id, self.code, self.message, self.details)


# --- encoding ---------------------------------------------------------------

# orjson parses up to 1024 levels of nesting but encodes only up to 254: a frame nested
# deeper than this is refused at decode time, so nothing we accepted fails to re-encode.
MAX_NESTING = 200


def encode(frame: dict[str, Any]) -> bytes:
    """One frame as bytes, newline included. Non-JSON values become strings."""
    try:
        # OPT_APPEND_NEWLINE: orjson writes the newline itself, saving a copy of every frame.
        return orjson.dumps(frame, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError as exc:  # nested too deeply, integer beyond 64 bits, a non-str key
        raise ProtocolError(ErrorCode.INVALID_REQUEST, f"Frame cannot be encoded as JSON: {exc}") from None


def encode_many(frames: list[dict[str, Any]]) -> bytes:
    """Several frames in one buffer, so a transport can write them in one call."""
    return b"".join(orjson.dumps(f, default=str) + b"\n" for f in frames)


def decode(line: bytes | str) -> dict[str, Any]:
    """Parse one frame; raise ProtocolError(INVALID_JSON / INVALID_REQUEST)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"Frame is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST,
            f"Frame must be a JSON object, got {type(obj).__name__}",
        )
    # Counting brackets is a C-speed scan; the walk runs only for frames that could be too deep.
    if line.count("[" if isinstance(line, str) else b"[") + line.count("{" if isinstance(line, str) else b"{") \
            > MAX_NESTING and nesting_depth(obj) > MAX_NESTING:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, f"Frame is nested deeper than {MAX_NESTING} levels")
    return obj


def nesting_depth(value: Any) -> int:
    """How many containers deep ``value`` goes (iterative: no recursion limit to hit)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in item if isinstance(child, (dict, list)))
    return deepest


# --- timestamps and ids -------------------------------------------------------

_ts_cache: tuple[float, float, str] = (0.0, 0.0, "")  # [second start, next second), its text


def utc_timestamp() -> str:
    """ISO-8601 UTC to the second; cached per second because every frame has one."""
    global _ts_cache
    now = time.time()
    start, end, text = _ts_cache
    if start <= now < end:  # the common case: two float compares, no int() or tuple building
        return text
    second = int(now)
    text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
    _ts_cache = (float(second), float(second + 1), text)
    return text


_id_prefix = f"{os.getpid():x}-{int(time.time()):x}-"
_id_counter = itertools.count(1)


def new_request_id() -> str:
    """A process-unique id for requests that arrive without one."""
    return f"req_{_id_prefix}{next(_id_counter)}"


# --- requests -----------------------------------------------------------------

def request_id_of(frame: dict[str, Any]) -> Any:
    """The frame's id (``id`` or the legacy ``request_id``), or None."""
    rid = frame.get("id")
    return frame.get("request_id") if rid is None else rid


def is_valid_request_id(rid: Any) -> bool:
    """An id a caller may give: a string or an integer (not a bool, not a container)."""
    return isinstance(rid, (str, int)) and not isinstance(rid, bool)


def check_request_id(rid: Any) -> None:
    """Raise INVALID_REQUEST unless ``rid`` is a usable request id."""
    if not is_valid_request_id(rid):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "'id' must be a string or an integer")


def normalize_request(frame: dict[str, Any], *, default_agent: str | None = None) -> dict[str, Any]:
    """Validate a request frame and return it in canonical shape.

    The result always has ``id``, ``agent``, ``action`` and ``data`` (a dict);
    ``timeout_ms``, ``idempotency_key`` and ``interface`` are kept when given.
    Raises ProtocolError(INVALID_REQUEST) naming what is wrong.
    """
    rid = request_id_of(frame)
    if rid is None:
        rid = new_request_id()
    else:
        check_request_id(rid)

    action = frame.get("action")
    if not isinstance(action, str) or not action:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "Missing 'action' (a non-empty string)")

    agent = frame.get("agent", default_agent)
    if agent is None:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "Missing 'agent' (which agent type should answer)")
    if not isinstance(agent, str) or not agent:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "'agent' must be a non-empty string")

    if "data" in frame:
        data = frame["data"]
    elif "params" in frame:
        data = frame["params"]
    else:
        data = {k: v for k, v in frame.items() if k not in ENVELOPE_KEYS}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "'data' must be a JSON object")

    request: dict[str, Any] = {"id": rid, "agent": agent, "action": action, "data": data}
    timeout_ms = frame.get("timeout_ms")
    if timeout_ms is not None:
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)) or timeout_ms <= 0:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "'timeout_ms' must be a positive number")
        request["timeout_ms"] = timeout_ms
    key = frame.get("idempotency_key")
    if key is not None:
        if not isinstance(key, str) or not key or len(key) > 200:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "'idempotency_key' must be a string of 1-200 characters")
        request["idempotency_key"] = key
    interface = frame.get("interface")
    if interface is not None:
        if not isinstance(interface, str) or len(interface) > 100:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "'interface' must be a string of at most 100 characters")
        request["interface"] = interface
    return request


# --- responses ----------------------------------------------------------------

def success(request_id: Any, data: Any, *, processing_time_ms: float | None = None, **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {"id": request_id, "status": "success", "data": data, "timestamp": utc_timestamp()}
    if processing_time_ms is not None:
        # round(x, 3) costs about as much as the rest of this function; for a duration (never
        # negative) integer arithmetic gives the same 3 decimals.
        frame["processing_time_ms"] = (int(processing_time_ms * 1000 + 0.5) / 1000 if processing_time_ms >= 0
                                       else round(processing_time_ms, 3))
    if extra:
        frame.update(extra)
    return frame


def error(request_id: Any, code: ErrorCode | str, message: str, details: dict[str, Any] | None = None,
          **extra: Any) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "id": request_id,
        "status": "error",
        "error": {"code": str(code), "message": message, "details": details or {}},
        "timestamp": utc_timestamp(),
    }
    if extra:
        frame.update(extra)
    return frame


def is_response(frame: dict[str, Any]) -> bool:
    return frame.get("status") in ("success", "error")


# --- framing ------------------------------------------------------------------

class FrameTooLarge(Exception):
    """A line grew past the size limit before its newline arrived."""


class LineBuffer:
    """Splits a byte stream into newline-terminated frames.

    ``feed`` returns every complete line in the chunk (without the newline,
    blank lines skipped) and keeps the partial rest. A line longer than
    ``max_bytes`` raises FrameTooLarge, whether complete or still arriving, so
    a peer cannot make us buffer without bound.
    """

    __slots__ = ("_buf", "max_bytes")

    def __init__(self, max_bytes: int = DEFAULT_MAX_FRAME_BYTES):
        self._buf = b""
        self.max_bytes = max_bytes

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\n" not in chunk:
            if len(buf) > self.max_bytes:
                self._buf = b""
                raise FrameTooLarge(len(buf))
            self._buf = buf
            return []
        *lines, rest = buf.split(b"\n")
        if len(rest) > self.max_bytes:
            self._buf = b""
            raise FrameTooLarge(len(rest))
        self._buf = rest
        out = []
        for line in lines:
            if len(line) > self.max_bytes:
                self._buf = b""
                raise FrameTooLarge(len(line))
            if line.strip():
                out.append(line)
        return out

    def take_rest(self) -> bytes:
        """Return and forget the incomplete frame held back (a last line without newline at EOF)."""
        rest, self._buf = self._buf, b""
        return rest

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back (a partial frame at close)."""
        return len(self._buf.strip())


# --- the agent side's handshake -------------------------------------------------

def hello(agent: str, instance: str, actions: list[str], *, token: str | None = None,
          max_inflight: int = 64, pid: int | None = None, idempotent_actions: list[str] | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": "hello", "agent": agent, "instance": instance, "actions": actions,
                             "max_inflight": max_inflight, "pid": pid if pid is not None else os.getpid()}
    if idempotent_actions is not None:
        frame["idempotent_actions"] = idempotent_actions
    if token:
        frame["token"] = token
    return frame


PING = {"type": "ping"}
PONG = {"type": "pong"}
