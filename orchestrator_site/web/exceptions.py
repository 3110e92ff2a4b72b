"""The project's DRF exception handler: throttling answers in the wire
protocol's error envelope (RATE_LIMITED, with retry_after_s), the same body
the fast paths and the WebSocket send; every other error keeps DRF's format."""
from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from agents import protocol
from agents.protocol import ErrorCode


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, exceptions.Throttled):
        wait = exc.wait or 1.0
        frame = protocol.error(None, ErrorCode.RATE_LIMITED, "Request was throttled",
                               {"retry_after_s": round(wait, 3)})
        return Response(frame, status=429, headers={"Retry-After": str(max(1, int(wait + 0.999)))})
    return exception_handler(exc, context)
