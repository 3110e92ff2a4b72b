"""The hard cap with real calls in flight: 200 concurrent completions against a budget for 50.

Every call reserves its worst case (prompt estimate + max_tokens) before it is forwarded, so while the
provider holds all of them (the fake stalls until released) exactly 50 are in flight and 150 are refused
with 402; once released, the 50 settle with the usage the provider reported. Spend never exceeds the
budget, and what is finally charged is exactly what the provider reported.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from typing import Any
from urllib.parse import urlparse

import openai
import pytest
from openai import AsyncOpenAI

from tests.gateway.stack import GatewayStack

pytestmark = pytest.mark.e2e

CALLS, COVERED = 200, 50
MAX_TOKENS = 100
WORST_CASE = (8 + MAX_TOKENS) * 10_000  # "hi" estimated at 8 tokens, + max_tokens, at $10 per 1M tokens
REPORTED = (12 + 7) * 10_000  # what the fake reports by default: 12 prompt + 7 completion tokens
BUDGET = "0.054"  # 50 x 1,080,000 nano-dollars


def _run_race(stack: GatewayStack) -> None:
    stack.providers({"key": "fa", "fake": "a"}, budget=BUDGET)
    fake = stack.fakes["a"]
    fake.set(mode="stall")
    api = AsyncOpenAI(base_url=stack.url + "/v1", api_key=stack.member, max_retries=0, timeout=120)

    async def one() -> Any:  # the raw response, or the APIStatusError it raised
        try:
            return await api.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": "hi"}], max_tokens=MAX_TOKENS
            )
        except openai.APIStatusError as exc:
            return exc

    async def race() -> list[Any]:
        tasks = [asyncio.ensure_future(one()) for _ in range(CALLS)]
        deadline = time.monotonic() + 120
        while (
            len(fake.requests) < COVERED or sum(t.done() for t in tasks) < CALLS - COVERED
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        # Everything that could be reserved is in flight: the budget is fully held, none more got through.
        assert len(fake.requests) == COVERED and sum(t.done() for t in tasks) == CALLS - COVERED
        held = sum(e["amount_nanos"] for e in stack.ledger())
        assert held == COVERED * WORST_CASE
        fake.release()
        fake.set(mode="ok")
        return await asyncio.gather(*tasks)

    results = asyncio.run(race())
    statuses = Counter(r.status_code if isinstance(r, openai.APIStatusError) else 200 for r in results)
    assert statuses == {200: COVERED, 402: CALLS - COVERED}
    refused = [r for r in results if isinstance(r, openai.APIStatusError)]
    assert all(isinstance(r.body, dict) and r.body["code"] == "budget_exceeded" for r in refused)
    served = [r for r in results if not isinstance(r, openai.APIStatusError)]
    for r in served:
        stack.settled(r.headers["x-route-decision-id"])
    assert len(fake.requests) == COVERED
    entries = stack.ledger()
    assert Counter(e["kind"] for e in entries) == {"reservation": COVERED, "settlement": COVERED}
    # Overspend $0: the final spend is exactly what the provider reported, to the nano-dollar.
    assert sum(e["amount_nanos"] for e in entries) == COVERED * REPORTED
    logs = stack.route_logs()
    assert Counter(log["outcome"] for log in logs) == {"routed": COVERED, "BUDGET_EXCEEDED": CALLS - COVERED}
    [status] = stack.api("GET", "/api/budgets/status/").json()
    assert round(status["spent"] * 1e9) == COVERED * REPORTED


def test_200_concurrent_calls_against_a_budget_for_50_sqlite() -> None:
    stack = GatewayStack(env={"GATEWAY_FIRST_BYTE_TIMEOUT_S": "120"})
    try:
        _run_race(stack)
    finally:
        stack.close()


@pytest.mark.postgres
def test_200_concurrent_calls_against_a_budget_for_50_postgres() -> None:
    import psycopg

    base = urlparse(os.environ["DATABASE_URL"])
    name = f"{(base.path.lstrip('/') or 'postgres')}_gateway_cap"
    admin = base._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    stack = None
    try:
        stack = GatewayStack(
            env={"GATEWAY_FIRST_BYTE_TIMEOUT_S": "120"}, database_url=base._replace(path=f"/{name}").geturl()
        )
        _run_race(stack)
    finally:
        if stack is not None:
            stack.close()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
