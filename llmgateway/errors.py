"""OpenAI-shaped errors: ``{"error": {"message", "type", "code", "param"}}`` with the status their tools expect.

Every refusal of the gateway is a GatewayError; the router's ProtocolErrors are translated here, once.
``details`` (the decision's exclusion reasons, the attempts) travels inside ``error`` as an extra key,
which OpenAI clients ignore and people read.
"""

from __future__ import annotations

from typing import Any

from agents.protocol import ErrorCode, ProtocolError

INVALID_REQUEST = "invalid_request_error"

# ProtocolError code -> (status, type, default code)
_BY_CODE: dict[str, tuple[int, str, str]] = {
    ErrorCode.INVALID_JSON: (400, INVALID_REQUEST, "invalid_json"),
    ErrorCode.INVALID_REQUEST: (400, INVALID_REQUEST, "invalid_request"),
    ErrorCode.VALIDATION_ERROR: (400, INVALID_REQUEST, "invalid_value"),
    ErrorCode.MESSAGE_TOO_LARGE: (413, INVALID_REQUEST, "request_too_large"),
    ErrorCode.UNAUTHORIZED: (401, "authentication_error", "invalid_api_key"),
    ErrorCode.NOT_FOUND: (404, INVALID_REQUEST, "model_not_found"),
    ErrorCode.BUDGET_EXCEEDED: (402, "budget_exceeded", "budget_exceeded"),
    ErrorCode.NO_SUITABLE_PROVIDER: (422, INVALID_REQUEST, "no_suitable_provider"),
    ErrorCode.RATE_LIMITED: (429, "rate_limit_error", "rate_limit_exceeded"),
    ErrorCode.TIMEOUT: (504, "timeout_error", "upstream_timeout"),
    ErrorCode.INTERNAL_ERROR: (500, "server_error", "internal_error"),
}


class GatewayError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID_REQUEST,
        code: str | None = None,
        param: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after_s: float | None = None,
        retried: bool = False,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param
        self.details = details
        self.retry_after_s = retry_after_s
        self.retried = retried  # the gateway already failed over: tell the client not to repeat it

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code, "param": self.param}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid(message: str, *, param: str | None = None, code: str = "invalid_value") -> GatewayError:
    return GatewayError(400, message, code=code, param=param)


def from_protocol(exc: ProtocolError) -> GatewayError:
    status, type_, code = _BY_CODE.get(str(exc.code), (500, "server_error", "internal_error"))
    details = dict(exc.details or {})
    param = details.pop("param", None) or details.pop("field", None)
    code = details.pop("code", None) or code
    retry = details.get("retry_after_s")
    return GatewayError(
        status, exc.message, type=type_, code=code, param=param, details=details or None, retry_after_s=retry
    )


def upstream_failed(message: str, *, timeout: bool, details: dict[str, Any]) -> GatewayError:
    """Every attempt failed before its first byte: 504 when the last one timed out, else 502. Marked ``retried``:
    the gateway has already tried every candidate it may, so a client's own retries (the openai package makes
    two on a 5xx) would only call the failing providers again and push their breakers open."""
    if timeout:
        return GatewayError(504, message, type="timeout_error", code="upstream_timeout", details=details, retried=True)
    return GatewayError(502, message, type="upstream_error", code="upstream_error", details=details, retried=True)


def upstream_rate_limited(message: str, *, details: dict[str, Any], retry_after_s: float | None) -> GatewayError:
    return GatewayError(
        429,
        message,
        type="rate_limit_error",
        code="upstream_rate_limited",
        details=details,
        retry_after_s=retry_after_s,
    )
