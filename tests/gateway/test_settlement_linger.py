"""A settlement rides in the next decision's transaction; one left waiting is written before Daphne stops, and a
call Daphne cancels as it stops is settled at its worst case, not as a free call.

With GATEWAY_SETTLE_LINGER_S long (60 s) nothing but the next decision, or the server's shutdown, writes it:
the tests see both paths, on a real Daphne, read back through the REST API.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.stack import TIMEOUT, GatewayStack

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture
def gw() -> Iterator[GatewayStack]:
    stack = GatewayStack(env={"GATEWAY_SETTLE_LINGER_S": "60"})
    try:
        stack.providers({"key": "fa", "fake": "a"})
        yield stack
    finally:
        stack.close()


def call(gw: GatewayStack) -> str:
    r = httpx.post(
        gw.url + "/v1/chat/completions",
        json={"model": "auto", "messages": HI, "max_tokens": 20},
        headers={"Authorization": f"Bearer {gw.member}"},
        timeout=TIMEOUT,
    )
    assert r.status_code == 200, r.text
    return r.headers["x-route-decision-id"]


def kinds(gw: GatewayStack, decision: str) -> dict[str, dict]:
    return {e["kind"]: e for e in gw.ledger(decision_id=decision)}


def test_a_settlement_rides_with_the_next_decision(gw):
    first = call(gw)
    time.sleep(0.3)
    assert set(kinds(gw, first)) == {"reservation"}  # waiting for company (the linger is 60 s here)
    second = call(gw)
    settled, reserved = kinds(gw, first)["settlement"], kinds(gw, second)["reservation"]
    # One transaction, one clock reading: the first call's settlement was written with the second decision.
    assert settled["created_at"] == reserved["created_at"] and settled["usage_source"] == "reported"
    assert set(kinds(gw, second)) == {"reservation"}


def test_a_waiting_settlement_is_written_before_the_server_stops(gw):
    decision = call(gw)
    time.sleep(0.3)
    assert set(kinds(gw, decision)) == {"reservation"}
    gw.restart()  # SIGTERM: Daphne cancels the requests in flight, then the gateway's shutdown steps run
    entries = kinds(gw, decision)
    assert set(entries) == {"reservation", "settlement"} and entries["settlement"]["usage_source"] == "reported"


def test_a_stream_cut_by_the_server_stopping_is_settled_at_its_worst_case(gw):
    gw.fakes["a"].set(mode="slow", text="x" * 300, chunks=100, chunk_delay_s=0.05)  # 5 s of stream
    with gw.stream_chat({"model": "auto", "messages": HI, "max_tokens": 20, "stream": True}) as r:
        assert r.status_code == 200
        decision = r.headers["x-route-decision-id"]
        next(r.iter_bytes())  # the answer has started
        with contextlib.suppress(httpx.HTTPError):
            gw.restart()
    entries = kinds(gw, decision)
    # Settled at the reservation (a net settlement of 0), estimated: the provider's bill for the cut stream
    # is unknown, and a zero "reported" usage would have charged nothing.
    assert entries["settlement"]["usage_source"] == "estimated"
    assert entries["settlement"]["amount_nanos"] == 0 and entries["reservation"]["amount_nanos"] > 0
    attempt = gw.api("GET", f"/api/route-logs/{decision}/").json()["attempt_record"]
    # interrupted: Daphne cancelled the call as it stopped. On a loaded machine the connection is sometimes seen
    # closing before the reactor has even begun to stop (its own flag still down), and the gateway cannot tell
    # that from a client leaving: client_closed, settled the same way.
    assert attempt["outcome"] in ("interrupted", "client_closed") and attempt["usage_source"] == "estimated"
