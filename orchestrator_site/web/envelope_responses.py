"""A wire-protocol envelope as an HTTP answer, for the ASGI fast paths and the DRF views alike.

The status follows the envelope's error code and the headers follow the status
(``status_codes``), so POST /api/request and POST /api/route-llm answer the same
whichever shell served them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from rest_framework.response import Response

from orchestrator_site.web.status_codes import envelope_headers, http_status_for

_JSON = (b"content-type", b"application/json")


async def send_envelope(send: Callable[[dict[str, Any]], Awaitable[None]], frame: dict[str, Any]) -> int:
    """Answer ``frame`` over ASGI; the HTTP status it went with."""
    status = http_status_for(frame)
    body = orjson.dumps(frame, default=str)
    headers = [_JSON, (b"content-length", str(len(body)).encode())]
    if status >= 400:
        headers.extend(
            (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in envelope_headers(status, frame)
        )
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


def envelope_response(frame: dict[str, Any]) -> Response:
    """``frame`` as a DRF Response."""
    status = http_status_for(frame)
    return Response(frame, status=status, headers=dict(envelope_headers(status, frame)))
