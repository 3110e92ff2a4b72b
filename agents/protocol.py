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
import re
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

DEFAULT_MAX_FRAME_BYTES = 1024 * 1024


def websocket_message_limit(max_frame_bytes: int) -> int:
    """Daphne's WebSocket message limit for a frame limit: messages up to it are read and a frame over
    ``max_frame_bytes`` is answered MESSAGE_TOO_LARGE (the socket stays open); only a message past this
    larger bound is Daphne's close 1009 (a limit equal to the frame limit made every oversized frame a close)."""
    return max(4 * max_frame_bytes, max_frame_bytes + 1024 * 1024)


# Top-level request keys that are envelope, not data (used when a request has
# neither "data" nor "params" and the remaining keys are taken as the data).
ENVELOPE_KEYS = frozenset(
    {
        "id",
        "request_id",
        "agent",
        "action",
        "data",
        "params",
        "timeout_ms",
        "idempotency_key",
        "interface",
        "type",
        "token",
        "reply_to",
    }
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


def decode(line: bytes | str, *, what: str = "Frame") -> dict[str, Any]:
    """Parse one frame; raise ProtocolError(INVALID_JSON / INVALID_REQUEST).

    ``what`` names the thing in the messages: an OpenAI client's body is not a frame to its sender."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.INVALID_JSON, f"{what} is not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST,
            f"{what} must be a JSON object, got {type(obj).__name__}",
        )
    # Counting brackets is a C-speed scan; the walk runs only for frames that could be too deep.
    brackets = line.count("[") + line.count("{") if isinstance(line, str) else line.count(b"[") + line.count(b"{")
    if brackets > MAX_NESTING and nesting_depth(obj) > MAX_NESTING:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, f"{what} is nested deeper than {MAX_NESTING} levels")
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
        if action is None:
            raise ProtocolError(ErrorCode.INVALID_REQUEST, "Missing 'action' (a non-empty string)")
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST,
            "'action' must be a non-empty string",
            {"field": "action", "got": type(action).__name__},
        )

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
        frame["processing_time_ms"] = (
            int(processing_time_ms * 1000 + 0.5) / 1000 if processing_time_ms >= 0 else round(processing_time_ms, 3)
        )
    if extra:
        frame.update(extra)
    return frame


def error(
    request_id: Any, code: ErrorCode | str, message: str, details: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "id": request_id,
        "status": "error",
        "error": {"code": str(code), "message": message, "details": details or {}},
        "timestamp": utc_timestamp(),
    }
    if extra:
        frame.update(extra)
    return frame


# The answers that mean "we stopped waiting" rather than "it was done" or "it was refused": each says
# in ``details.may_have_run`` whether the agent may have done the work (retry with the same
# idempotency key when true; SECURITY.md lists these codes).
UNFINISHED_CODES = frozenset({ErrorCode.TIMEOUT, ErrorCode.AGENT_DISCONNECTED, ErrorCode.SHUTTING_DOWN})


def unfinished(
    request_id: Any,
    code: ErrorCode,
    message: str,
    *,
    may_have_run: bool,
    details: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An error frame for one of UNFINISHED_CODES, saying whether the work may have been done."""
    return error(request_id, code, message, {**(details or {}), "may_have_run": may_have_run}, **extra)


def is_response(frame: dict[str, Any]) -> bool:
    return frame.get("status") in ("success", "error")


# --- framing ------------------------------------------------------------------

# The first bytes of an oversized line kept to recover its id (ids come first in our frames).
OVERSIZED_HEAD_BYTES = 512
_ID_IN_HEAD = re.compile(rb'"(?:id|request_id)"\s*:\s*("(?:[^"\\]|\\.){0,200}"|-?[0-9]{1,19})[\s,}]')


class FrameTooLarge(Exception):
    """A line grew past the size limit before its newline arrived."""

    def __init__(self, size: int, head: bytes = b"") -> None:
        super().__init__(size)
        self.size = size
        self.head = head

    @property
    def request_id(self) -> str | int | None:
        return id_from_head(self.head)


def id_from_head(head: bytes) -> str | int | None:
    """The ``id`` (or ``request_id``) of a frame from its first bytes, or None: answers to a frame
    too large to parse can still be matched by the sender."""
    match = _ID_IN_HEAD.search(head)
    if match is None:
        return None
    try:
        value = orjson.loads(match.group(1))
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, (str, int)) else None


def too_large_error(size: int | None, max_bytes: int, what: str = "Frame") -> ProtocolError:
    details: dict[str, Any] = {"max_bytes": max_bytes}
    if size is not None:
        details["bytes"] = size
    return ProtocolError(ErrorCode.MESSAGE_TOO_LARGE, f"{what} exceeds the {max_bytes}-byte limit", details)


def encode_bounded(frame: dict[str, Any], max_bytes: int) -> tuple[bytes, bool]:
    """``(encode(frame), False)``, or ``(MESSAGE_TOO_LARGE error with the same id, True)`` when the
    frame would exceed ``max_bytes`` (newline excluded): what an answer's sender sends instead of a
    line the other side must refuse."""
    data = encode(frame)
    if len(data) - 1 <= max_bytes:
        return data, False
    err = too_large_error(len(data) - 1, max_bytes, "The answer")
    return encode(err.to_frame(request_id_of(frame))), True


class LineBuffer:
    """Splits a byte stream into newline-terminated frames.

    ``feed`` returns every complete line in the chunk (without the newline,
    blank lines skipped) and keeps the partial rest. A line longer than
    ``max_bytes`` raises FrameTooLarge, whether complete or still arriving, so
    a peer cannot make us buffer without bound.

    With ``discard_oversized`` nothing is raised: an oversized line is skipped
    up to its newline (at most ``max_bytes`` are ever buffered) and recorded in
    ``dropped`` as a FrameTooLarge (size and first bytes), for the caller to
    answer and clear; the lines around it are returned as usual.
    """

    __slots__ = ("_buf", "max_bytes", "discard_oversized", "dropped", "_skipping")

    def __init__(self, max_bytes: int = DEFAULT_MAX_FRAME_BYTES, *, discard_oversized: bool = False):
        self._buf = b""
        self.max_bytes = max_bytes
        self.discard_oversized = discard_oversized
        self.dropped: list[FrameTooLarge] = []
        self._skipping: FrameTooLarge | None = None  # the oversized line being skipped

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skipping is not None:
            chunk = self._skip(chunk)
            if not chunk:
                return []
        buf = self._buf + chunk if self._buf else chunk
        if b"\n" not in chunk:
            if len(buf) > self.max_bytes:
                self._buf = b""
                self._oversized(buf, complete=False)
                return []
            self._buf = buf
            return []
        *lines, rest = buf.split(b"\n")
        self._buf = b""
        out = []
        for line in lines:
            if len(line) > self.max_bytes:
                self._oversized(line, complete=True)
            elif line.strip():
                out.append(line)
        if len(rest) > self.max_bytes:
            self._oversized(rest, complete=False)
        else:
            self._buf = rest
        return out

    def _oversized(self, data: bytes, *, complete: bool) -> None:
        exc = FrameTooLarge(len(data), data[:OVERSIZED_HEAD_BYTES])
        if not self.discard_oversized:
            raise exc
        if complete:
            self.dropped.append(exc)
        else:
            self._skipping = exc

    def _skip(self, chunk: bytes) -> bytes:
        """Swallow the skipped line's bytes up to its newline; return what follows it."""
        skipping = self._skipping
        assert skipping is not None
        nl = chunk.find(b"\n")
        if nl < 0:
            skipping.size += len(chunk)
            return b""
        skipping.size += nl
        self._skipping = None
        self.dropped.append(skipping)
        return chunk[nl + 1 :]

    def take_rest(self) -> bytes:
        """Return and forget the incomplete frame held back (a last line without newline at EOF)."""
        rest, self._buf = self._buf, b""
        if self._skipping is not None:  # EOF ends the skipped line too
            self.dropped.append(self._skipping)
            self._skipping = None
        return rest

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back (a partial frame at close)."""
        return len(self._buf.strip())


# --- the agent side's handshake -------------------------------------------------


def hello(
    agent: str,
    instance: str,
    actions: list[str],
    *,
    token: str | None = None,
    max_inflight: int = 64,
    pid: int | None = None,
    idempotent_actions: list[str] | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "hello",
        "agent": agent,
        "instance": instance,
        "actions": actions,
        "max_inflight": max_inflight,
        "pid": pid if pid is not None else os.getpid(),
    }
    if idempotent_actions is not None:
        frame["idempotent_actions"] = idempotent_actions
    if token:
        frame["token"] = token
    return frame


@dataclass(frozen=True, slots=True)
class Hello:
    """An agent's hello, validated: what the orchestrator records about the instance."""

    agent: str
    instance: str
    actions: frozenset[str]
    idempotent_actions: frozenset[str]
    max_inflight: int  # as asked (>= 1; 64 when missing or not a positive int), before the orchestrator's cap
    pid: int | None
    token: Any


def parse_hello(frame: dict[str, Any], *, agent_type: str) -> Hello:
    """Validate the hello ``hello()`` builds, received on the socket of ``agent_type``. Raises ProtocolError.

    The token is returned, not checked: the caller knows the type's token hashes (agents/auth.py).
    """
    agent = frame.get("agent", agent_type)
    if agent != agent_type:
        raise ProtocolError(
            ErrorCode.INVALID_REQUEST, f"Hello from agent type {agent!r} on the socket of type {agent_type!r}"
        )
    instance = frame.get("instance")
    actions = frame.get("actions")
    if not isinstance(instance, str) or not instance or len(instance) > 100:
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "Hello needs 'instance' (a string of 1-100 characters)")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise ProtocolError(ErrorCode.INVALID_REQUEST, "Hello needs 'actions' (a list of action names)")
    idempotent = frame.get("idempotent_actions") or []
    max_inflight = frame.get("max_inflight")
    if not isinstance(max_inflight, int) or isinstance(max_inflight, bool) or max_inflight < 1:
        max_inflight = 64
    pid = frame.get("pid")
    return Hello(
        agent=agent_type,
        instance=instance,
        actions=frozenset(actions),
        idempotent_actions=frozenset(a for a in idempotent if isinstance(a, str)),
        max_inflight=max_inflight,
        pid=pid if isinstance(pid, int) else None,
        token=frame.get("token"),
    )


PING = {"type": "ping"}
PONG = {"type": "pong"}
