"""What the gateway sends back: JSON bodies, OpenAI-shaped errors and the x-route-* headers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from llmgateway.errors import GatewayError

Headers = list[tuple[bytes, bytes]]


def dollars(nanos: int) -> bytes:
    """Nano-dollars as an exact decimal string (x-route-cost)."""
    sign = "-" if nanos < 0 else ""
    whole, frac = divmod(abs(nanos), 1_000_000_000)
    return f"{sign}{whole}.{frac:09d}".encode()


def route_headers(att: Any, *, cost_nanos: int | None = None) -> Headers:
    """x-route-decision-id (the decision that served, or the last one tried), x-route-provider, x-route-request-id
    (the first decision of the request: the route log's ``request_id``), x-route-attempts, x-route-cost when known."""
    d = att.decision
    headers = [
        (b"x-route-decision-id", d.decision_id.encode()),
        (b"x-route-provider", d.provider_key.encode()),
        (b"x-route-request-id", (d.request_id or d.decision_id).encode()),
        (b"x-route-attempts", str(att.number).encode()),
    ]
    if cost_nanos is not None:
        headers.append((b"x-route-cost", dollars(cost_nanos)))
    return headers


async def send_json_bytes(send: Any, status: int, body: bytes, *, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Any, error: GatewayError, *, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    extra = list(headers)
    if error.status == 401:
        extra.append((b"www-authenticate", b'Bearer realm="gateway"'))
    if error.retry_after_s is not None:
        extra.append((b"retry-after", str(max(1, int(error.retry_after_s + 0.999))).encode()))
    if error.retried:
        # Read by OpenAI's and Anthropic's SDKs before their own retry rules (openai-python _should_retry).
        extra.append((b"x-should-retry", b"false"))
    await send_json_bytes(send, error.status, orjson.dumps(error.body(), default=str), headers=extra)
