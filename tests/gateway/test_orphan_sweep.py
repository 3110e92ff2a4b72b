"""A web process killed mid-call (SIGKILL: no shutdown steps run) leaves the call unsettled; the next one
settles it as interrupted at its reservation."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from tests.gateway.stack import GatewayStack

HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayStack]:
    # Calls live at most 3 s here, so the sweep (every 0.3 s) may take a decision for lost after 3 s.
    stack = GatewayStack(
        env={"GATEWAY_TOTAL_TIMEOUT_S": "3", "GATEWAY_ORPHAN_GRACE_S": "0", "GATEWAY_ORPHAN_SWEEP_S": "0.3"}
    )
    try:
        yield stack
    finally:
        stack.close()


def test_a_call_cut_by_a_killed_process_is_settled_by_the_next_one(gw):
    gw.providers({"key": "fa", "fake": "a"})
    gw.fakes["a"].set(mode="slow", chunks=40, chunk_delay_s=0.05)
    with gw.stream_chat({"model": "auto", "messages": HI, "max_tokens": 20, "stream": True}) as r:
        assert r.status_code == 200
        decision = r.headers["x-route-decision-id"]
        next(r.iter_bytes())  # the call is under way
        assert gw.daphne.proc is not None
        os.killpg(gw.daphne.proc.pid, signal.SIGKILL)  # no shutdown trigger, nothing settled
        gw.daphne.proc.wait(10)
    log = gw.restart()
    deadline = time.monotonic() + 20
    while (record := gw.api("GET", f"/api/route-logs/{decision}/").json()["attempt_record"]) is None:
        assert time.monotonic() < deadline, "the sweep never settled the lost call"
        time.sleep(0.2)
    assert record["outcome"] == "interrupted" and record["usage_source"] == "estimated"
    entries = {e["kind"]: e for e in gw.ledger(decision_id=decision)}
    assert entries["settlement"]["amount_nanos"] == 0 and entries["reservation"]["amount_nanos"] > 0
    assert "settled 1 gateway call(s) a stopped process left unsettled" in log.read_text()
