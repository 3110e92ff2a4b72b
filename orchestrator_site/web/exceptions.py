"""Every error under /api/ in the wire protocol's error envelope.

Two places turn errors into envelopes, both through ``envelope_for``:

* ``api_exception_handler`` (DRF's EXCEPTION_HANDLER) for the DRF views: DRF's
  own exceptions (validation, auth, 404, 405, 415, throttling) and anything a
  view raises unexpectedly (500 INTERNAL_ERROR, logged, never the HTML page);
* ``api_error_envelope`` (outermost middleware) for what Django answers by
  itself under /api/: an unknown path (404), an exception in a middleware or
  a non-DRF view (500), each of which Django renders as an HTML page.

The fast ASGI paths build their envelopes with ``agents.protocol`` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import orjson
from asgiref.sync import iscoroutinefunction
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.decorators import sync_and_async_middleware
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import set_rollback

from agents import protocol
from agents.protocol import ErrorCode
from orchestrator_site.web.status_codes import error_code_for_status, retry_after_header

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"

_CODE_BY_EXCEPTION: tuple[tuple[type[Exception], str], ...] = (
    (exceptions.ParseError, ErrorCode.INVALID_JSON),
    (exceptions.ValidationError, ErrorCode.VALIDATION_ERROR),
    (exceptions.NotAuthenticated, ErrorCode.UNAUTHORIZED),
    (exceptions.AuthenticationFailed, ErrorCode.UNAUTHORIZED),
    (exceptions.PermissionDenied, ErrorCode.FORBIDDEN),
)


def _details(exc: exceptions.APIException) -> dict[str, Any]:
    # Field errors ({"name": ["This field is required."]}) keep DRF's shape under details.fields.
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        return {"fields": detail}
    if isinstance(exc, exceptions.Throttled):
        return {"retry_after_s": round(exc.wait or 1.0, 3)}  # type: ignore[attr-defined]  # not in DRF's stubs
    return {}


def _only_uniqueness(detail: Any) -> bool:
    """True when every field error is a uniqueness one (a row with that key exists): 409, not 400."""
    if not isinstance(detail, dict):
        return False
    errors = [e for value in detail.values() for e in (value if isinstance(value, list) else [value])]
    return bool(errors) and all(getattr(e, "code", None) == "unique" for e in errors)


def _message(exc: exceptions.APIException) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "Invalid input; see error.details.fields"
    if isinstance(exc, exceptions.Throttled):
        return "Request was throttled"
    return str(exc.detail)


def envelope_for(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """HTTP status, error envelope and extra headers for any exception raised while serving /api/."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return 413, protocol.error(None, ErrorCode.MESSAGE_TOO_LARGE, str(exc)), {}
    if not isinstance(exc, exceptions.APIException):
        return 500, protocol.error(None, ErrorCode.INTERNAL_ERROR, "Internal error; see the server log"), {}
    status = exc.status_code
    if isinstance(exc, exceptions.ValidationError) and _only_uniqueness(exc.detail):
        return 409, protocol.error(None, ErrorCode.CONFLICT, "Already exists", _details(exc)), {}
    code = next((c for cls, c in _CODE_BY_EXCEPTION if isinstance(exc, cls)), None) or error_code_for_status(status)
    headers: dict[str, str] = {}
    if isinstance(exc, exceptions.Throttled):
        headers["Retry-After"] = retry_after_header(exc.wait or 1.0)  # type: ignore[attr-defined]  # not in the stubs
    auth_header = getattr(exc, "auth_header", None)
    if auth_header:
        headers["WWW-Authenticate"] = auth_header
    return status, protocol.error(None, code, _message(exc), _details(exc)), headers


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    status, frame, headers = envelope_for(exc)
    set_rollback()  # as DRF's own handler: an ATOMIC_REQUESTS transaction must not commit half a request
    if status >= 500:
        view = context.get("view")
        logger.error("unhandled error in %s", type(view).__name__ if view else "an API view", exc_info=exc)
    return Response(frame, status=status, headers=headers)


def _needs_envelope(request: HttpRequest, response: HttpResponse) -> bool:
    # DRF responses already carry an envelope (api_exception_handler); only Django's own pages are replaced.
    return (
        response.status_code >= 400
        and request.path.startswith(API_PREFIX)
        and not isinstance(response, Response)
        and not response.get("Content-Type", "").startswith("application/json")
    )


def _envelope_response(response: HttpResponse) -> HttpResponse:
    status = response.status_code
    message = response.reason_phrase if status < 500 else "Internal error; see the server log"
    frame = protocol.error(None, error_code_for_status(status), message)
    replacement = HttpResponse(orjson.dumps(frame), status=status, content_type="application/json")
    if response.has_header("Allow"):
        replacement["Allow"] = response["Allow"]
    return replacement


@sync_and_async_middleware
def api_error_envelope(get_response: Callable[..., Any]) -> Callable[..., Any]:
    """Outermost middleware: Django's HTML error pages under /api/ become JSON envelopes.

    Sync and async, so it adds no thread hop under Daphne. By the time a
    response reaches it, Django has already logged any exception behind it.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request: HttpRequest) -> HttpResponse:
            response = await get_response(request)
            return _envelope_response(response) if _needs_envelope(request, response) else response
    else:

        def middleware(request: HttpRequest) -> HttpResponse:  # type: ignore[misc]
            response = get_response(request)
            return _envelope_response(response) if _needs_envelope(request, response) else response

    return middleware
