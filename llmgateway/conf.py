"""The gateway's settings (``settings.GATEWAY``, filled from the environment), read when needed."""
from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Attempts per request (the first plus failovers), only ever before the first byte reaches the client.
    "MAX_ATTEMPTS": 3,
    # Completion size reserved (and sent upstream as max_tokens) when the request gives none.
    "DEFAULT_MAX_TOKENS": 1024,
    "MAX_BODY_BYTES": 4 * 1024 * 1024,
    "CONNECT_TIMEOUT_S": 5.0,
    # Until the first byte of the answer (headers and first chunk): past it, the next provider is tried.
    "FIRST_BYTE_TIMEOUT_S": 30.0,
    # Longest silence between two chunks of a stream, and the longest whole call.
    "READ_TIMEOUT_S": 60.0,
    "TOTAL_TIMEOUT_S": 600.0,
    "MAX_CONNECTIONS": 2000,
    # How long an idle upstream connection is kept for the next call.
    "KEEPALIVE_S": 15.0,
    # How long a finished call's settlement waits for the next decision to share its transaction (ledger.py).
    "SETTLE_LINGER_S": 0.005,
    # Observed time to first byte: p50 over this many recent calls per provider, published at most this often.
    "TTFB_WINDOW": 200,
    "TTFB_PUBLISH_S": 5.0,
}


def get(name: str) -> Any:
    configured = getattr(settings, "GATEWAY", None) or {}
    return configured.get(name, DEFAULTS[name])
