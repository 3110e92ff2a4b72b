"""A settlement rides in the next decision's transaction; one left waiting is written before Daphne stops.

With GATEWAY_SETTLE_LINGER_S long (60 s) nothing but the next decision, or the server's shutdown, writes it:
the tests see both paths, on a real Daphne, read back through the REST API.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.gateway.stack import TIMEOUT, GatewayStack
from tests.web.daphne_proc import Daphne

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
    gw.daphne.stop()  # SIGTERM: Twisted's "before shutdown" trigger writes it
    gw.daphne = Daphne(gw.system.env, gw.system.root / "daphne-2.log").start()
    gw.url = gw.daphne.url
    entries = kinds(gw, decision)
    assert set(entries) == {"reservation", "settlement"} and entries["settlement"]["usage_source"] == "reported"
