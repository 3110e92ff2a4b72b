"""Which HTTP status (and headers) a response envelope travels with. Pure, no Django."""

from __future__ import annotations

from typing import Any

from agents.protocol import ErrorCode

_STATUS_BY_CODE: dict[str, int] = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.VALIDATION_ERROR: 400,
    ErrorCode.MESSAGE_TOO_LARGE: 413,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNKNOWN_AGENT: 404,
    ErrorCode.UNKNOWN_ACTION: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.NAMESPACE_COLLISION: 409,
    ErrorCode.CONFLICT: 409,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.BUDGET_EXCEEDED: 402,
    ErrorCode.NO_SUITABLE_PROVIDER: 422,
    ErrorCode.AGENT_UNAVAILABLE: 503,
    ErrorCode.AGENT_DISCONNECTED: 503,
    ErrorCode.OVERLOADED: 503,
    ErrorCode.SHUTTING_DOWN: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.INTERNAL_ERROR: 500,
}


def http_status_for(frame: dict[str, Any]) -> int:
    """200 for a success frame; the error code's status otherwise (502 for a
    code this web process does not know: the agent answered something odd)."""
    if frame.get("status") == "success":
        return 200
    err = frame.get("error")
    code = err.get("code") if isinstance(err, dict) else None
    return _STATUS_BY_CODE.get(str(code), 502)


# The error code an HTTP error gets when it did not come from a ProtocolError
# (Django's own 404/500 pages, DRF's generic exceptions).
_CODE_BY_STATUS: dict[int, str] = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    406: ErrorCode.NOT_ACCEPTABLE,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.MESSAGE_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.AGENT_UNAVAILABLE,
}


def error_code_for_status(status: int) -> str:
    """The error code for a bare HTTP error status (INTERNAL_ERROR for any other 5xx)."""
    code = _CODE_BY_STATUS.get(status)
    if code is not None:
        return str(code)
    return str(ErrorCode.INTERNAL_ERROR if status >= 500 else ErrorCode.INVALID_REQUEST)


def codes_for_status(status: int) -> list[str]:
    """Every error code that travels with ``status`` (for the API schema's descriptions)."""
    codes = {str(code) for code, mapped in _STATUS_BY_CODE.items() if mapped == status}
    fallback = _CODE_BY_STATUS.get(status)
    if fallback is not None:
        codes.add(str(fallback))
    return sorted(codes)


def retry_after_header(wait_s: float) -> str:
    """Retry-After in whole seconds, rounded up and at least 1."""
    return str(max(1, int(wait_s + 0.999)))


def envelope_headers(status: int, frame: dict[str, Any]) -> list[tuple[str, str]]:
    """The headers an envelope's status calls for: WWW-Authenticate with a 401, Retry-After with a 429."""
    if status == 401:
        return [("WWW-Authenticate", 'Token realm="api"')]
    if status == 429:
        wait = (frame.get("error") or {}).get("details", {}).get("retry_after_s", 1)
        return [("Retry-After", retry_after_header(wait))]
    return []
