"""The gateway end to end: the real ``openai`` client -> a real Daphne -> fake providers (real HTTP servers).

One Daphne and three fakes for the module (two OpenAI-format, one Anthropic); each test configures the
providers it needs through the REST API and reads the route logs, attempts and ledger back through it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
import websockets
from openai import OpenAI

from tests.gateway.stack import TIMEOUT, GatewayStack

pytestmark = pytest.mark.e2e

HI = [{"role": "user", "content": "hi"}]
# "hi" is estimated at ceil(2 / 3) + 4 + 3 = 8 prompt tokens (llmgateway/tokens.py).
HI_ESTIMATE = 8


@pytest.fixture(scope="module")
def stack() -> Iterator[GatewayStack]:
    s = GatewayStack()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def gw(stack: GatewayStack) -> Iterator[GatewayStack]:
    for fake in stack.fakes.values():
        fake.set(mode="ok")
        fake.clear()
    yield stack
    for fake in stack.fakes.values():
        fake.release()


def client(stack: GatewayStack, token: str | None = None) -> OpenAI:
    return OpenAI(base_url=stack.url + "/v1", api_key=token or stack.member, max_retries=0, timeout=TIMEOUT)


def chat(
    stack: GatewayStack,
    body: Any,
    *,
    token: str | None = "member",
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    auth = {"Authorization": f"Bearer {stack.member if token == 'member' else token}"} if token else {}
    return httpx.post(
        stack.url + "/v1/chat/completions",
        content=raw if raw is not None else json.dumps(body),
        headers={**auth, "content-type": "application/json", **(headers or {})},
        timeout=TIMEOUT,
    )


def sse_events(text: str) -> list[str]:
    return [block[len("data: ") :] for block in text.split("\n\n") if block.startswith("data: ")]


def nanos(dollars: str | float) -> int:
    return int(Decimal(str(dollars)) * 10**9)


def test_models_lists_auto_and_the_enabled_providers(gw):
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fc", "fake": "c"})
    models = client(gw).models.list()
    assert [m.id for m in models.data] == ["auto", "fa", "fc"]
    assert httpx.get(gw.url + "/v1/models", timeout=TIMEOUT).status_code == 401


def test_one_model_is_retrieved_and_unknown_v1_paths_get_an_openai_404_not_an_html_page(gw):
    gw.providers({"key": "fa", "fake": "a"})
    oai = client(gw)
    assert oai.models.retrieve("fa").id == "fa"  # OpenAI's models.retrieve: GET /v1/models/<id>
    assert oai.models.retrieve("auto").owned_by == "router"
    with pytest.raises(openai.NotFoundError) as missing:
        oai.models.retrieve("nope")
    assert missing.value.body["code"] == "model_not_found"
    assert httpx.get(gw.url + "/v1/models/fa", timeout=TIMEOUT).status_code == 401
    with pytest.raises(openai.NotFoundError) as unknown:
        oai.embeddings.create(model="auto", input="hi")  # a path this gateway does not serve
    assert unknown.value.body["code"] == "unknown_url"
    assert "POST /v1/embeddings" in unknown.value.body["message"]
    page = httpx.get(gw.url + "/v1/models/fa/extra", timeout=TIMEOUT)
    assert page.status_code == 404 and page.headers["content-type"] == "application/json"


def test_anonymous_and_bad_tokens_get_401_and_nothing_is_logged(gw):
    gw.providers({"key": "fa", "fake": "a"})
    before = len(gw.route_logs())
    anonymous = chat(gw, {"model": "auto", "messages": HI}, token=None)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["type"] == "authentication_error"
    assert set(anonymous.json()["error"]) >= {"message", "type", "code", "param"}
    with pytest.raises(openai.AuthenticationError):
        client(gw, token="not-a-token").chat.completions.create(model="auto", messages=HI)
    assert len(gw.route_logs()) == before
    assert gw.fakes["a"].requests == []


def test_a_completion_is_forwarded_and_settled_to_the_nano_dollar(gw):
    gw.providers(
        {
            "key": "fa",
            "fake": "a",
            "upstream_model": "up-model",
            "cost_per_1m": "9.00",
            "input_cost_per_1m": "3.00",
            "output_cost_per_1m": "15.00",
            "cached_input_cost_per_1m": "0.30",
        }
    )
    gw.fakes["a"].set(mode="ok", text="Forty-two.", prompt_tokens=1000, completion_tokens=250, cached_tokens=400)
    raw = client(gw).chat.completions.with_raw_response.create(
        model="auto", messages=HI, max_tokens=300, extra_body={"route": {"task_type": "coding", "priority": "high"}}
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Forty-two."
    # 600 uncached input tokens at $3, 400 cached at $0.30 and 250 output at $15 per 1M tokens.
    expected = 600 * 3_000 + 400 * 300 + 250 * 15_000
    assert raw.headers["x-route-provider"] == "fa"
    assert raw.headers["x-route-cost"] == "0.005670000" and nanos(raw.headers["x-route-cost"]) == expected
    decision = raw.headers["x-route-decision-id"]
    log = gw.settled(decision)
    assert log["outcome"] == "routed" and log["priority"] == "high" and log["task_type"] == "coding"
    assert log["token_count"] == HI_ESTIMATE + 300
    attempt = log["attempt_record"]
    assert attempt["outcome"] == "ok" and attempt["status_code"] == 200 and attempt["ttfb_ms"] > 0
    assert (attempt["prompt_tokens"], attempt["completion_tokens"], attempt["cached_tokens"]) == (1000, 250, 400)
    assert attempt["cost_nanos"] == expected and attempt["usage_source"] == "reported"
    entries = {e["kind"]: e for e in gw.ledger(decision_id=decision)}
    reserved = HI_ESTIMATE * 3_000 + 300 * 15_000  # the worst case, at the input and output prices
    assert entries["reservation"]["amount_nanos"] == reserved
    assert entries["reservation"]["amount_nanos"] + entries["settlement"]["amount_nanos"] == expected
    assert entries["settlement"]["usage_source"] == "reported"
    path, headers, body = gw.fakes["a"].requests[-1]
    assert path == "/v1/chat/completions" and headers["authorization"] == f"Bearer {gw.fakes['a'].api_key}"
    assert body["model"] == "up-model" and body["max_tokens"] == 300 and "route" not in body


def test_a_stream_is_relayed_chunk_by_chunk_and_settled_with_the_reported_usage(gw):
    gw.providers({"key": "fa", "fake": "a"})
    gw.fakes["a"].set(mode="ok", text="one two three four", chunks=4, prompt_tokens=20, completion_tokens=4)
    with gw.stream_chat({"model": "fa", "messages": HI, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        decision = r.headers["x-route-decision-id"]
        text = r.read().decode()
    events = sse_events(text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "one two three four"
    assert all(c["choices"] for c in chunks)  # the usage chunk the client did not ask for is not passed on
    _, _, upstream = gw.fakes["a"].requests[-1]
    assert upstream["stream_options"] == {"include_usage": True} and upstream["max_tokens"] == 1024
    attempt = gw.settled(decision)["attempt_record"]
    assert attempt["stream"] and attempt["outcome"] == "ok" and attempt["usage_source"] == "reported"
    assert (attempt["prompt_tokens"], attempt["completion_tokens"]) == (20, 4)
    assert attempt["cost_nanos"] == 24 * 10_000


def test_the_openai_client_streams_with_usage_when_it_asks(gw):
    gw.providers({"key": "fa", "fake": "a"})
    stream = client(gw).chat.completions.create(
        model="auto", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].usage.prompt_tokens == 12 and chunks[-1].usage.completion_tokens == 7
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello from the fake provider."


def test_anthropic_both_ways_with_usage_replaced_not_added(gw):
    gw.providers({"key": "fc", "fake": "c", "upstream_model": "claude-test"})
    gw.fakes["c"].set(mode="ok", text="Bonjour le monde", chunks=3, prompt_tokens=30, completion_tokens=9)
    whole = client(gw).chat.completions.with_raw_response.create(
        model="fc", messages=[{"role": "system", "content": "Be brief."}, *HI], max_tokens=50
    )
    answer = whole.parse()
    assert answer.choices[0].message.content == "Bonjour le monde"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (30, 9)
    path, headers, body = gw.fakes["c"].requests[-1]
    assert path == "/v1/messages" and headers["x-api-key"] == gw.fakes["c"].api_key
    assert body["system"] == "Be brief." and body["messages"] == HI and body["model"] == "claude-test"
    stream = client(gw).chat.completions.with_raw_response.create(
        model="fc", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Bonjour le monde"
    assert chunks[-1].usage.completion_tokens == 9 and chunks[-1].usage.prompt_tokens == 30
    for raw in (whole, stream):
        attempt = gw.settled(raw.headers["x-route-decision-id"])["attempt_record"]
        assert (attempt["prompt_tokens"], attempt["completion_tokens"]) == (30, 9)
        assert attempt["cost_nanos"] == 39 * 10_000 and attempt["usage_source"] == "reported"


def test_failover_tries_the_next_ranked_candidates_in_order(gw):
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fb", "fake": "b"}, {"key": "fc", "fake": "c"})
    gw.fakes["a"].set(mode="error_500")
    gw.fakes["b"].set(mode="error_429")
    raw = client(gw).chat.completions.with_raw_response.create(model="auto", messages=HI)
    assert raw.parse().choices[0].message.content == "Hello from the fake provider."
    assert raw.headers["x-route-provider"] == "fc" and raw.headers["x-route-attempts"] == "3"
    request_id = raw.headers["x-route-request-id"]
    logs = sorted(gw.route_logs(request_id=request_id), key=lambda log: log["attempt"])
    assert [(log["attempt"], log["provider_key"]) for log in logs] == [(1, "fa"), (2, "fb"), (3, "fc")]
    gw.settled(logs[-1]["decision_id"])
    logs = sorted(gw.route_logs(request_id=request_id), key=lambda log: log["attempt"])
    assert [log["attempt_record"]["outcome"] for log in logs] == ["upstream_error", "rate_limited", "ok"]
    assert [log["attempt_record"]["status_code"] for log in logs] == [500, 429, 200]
    excluded = {c["provider"]: c.get("excluded") for c in logs[2]["candidates"]}
    assert excluded["fa"] == excluded["fb"] == "already_tried"
    # The failed attempts cost nothing: their reservations were released.
    for log in logs[:2]:
        assert log["attempt_record"]["usage_source"] == "none" and log["attempt_record"]["cost_nanos"] == 0
        assert sum(e["amount_nanos"] for e in gw.ledger(decision_id=log["decision_id"])) == 0


def gateway_metrics(gw: GatewayStack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics parsed by prometheus_client's own parser (so the exposition format is checked too)."""
    from prometheus_client.parser import text_string_to_metric_families

    answer = gw.api("GET", "/metrics")
    assert answer.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
        if sample.name.startswith(("llm_gateway_", "llm_provider_breaker", "llm_provider_observed"))
    }


def test_metrics_count_each_attempt_with_its_tokens_cost_and_the_breakers(gw):
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fb", "fake": "b"})
    before = gateway_metrics(gw)
    gw.fakes["a"].set(mode="error_500")
    raw = client(gw).chat.completions.with_raw_response.create(model="auto", messages=HI)
    served = gw.settled(raw.headers["x-route-decision-id"])["attempt_record"]
    after = gateway_metrics(gw)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("llm_gateway_attempts_total", provider="fa", outcome="upstream_error") == 1
    assert delta("llm_gateway_attempts_total", provider="fb", outcome="ok") == 1
    assert delta("llm_gateway_tokens_total", provider="fb", kind="prompt") == served["prompt_tokens"] > 0
    assert delta("llm_gateway_tokens_total", provider="fb", kind="completion") == served["completion_tokens"] > 0
    assert delta("llm_gateway_cost_dollars_total", provider="fb", outcome="ok") == pytest.approx(
        served["cost_nanos"] / 1e9
    )
    assert after[("llm_provider_breaker_state", (("provider", "fb"), ("state", "closed")))] == 1
    assert after[("llm_provider_breaker_failures", (("provider", "fa"),))] >= 1


def test_a_stall_before_the_first_byte_fails_over_within_the_timeout(gw):
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fb", "fake": "b"})
    gw.fakes["a"].set(mode="stall")
    started = time.monotonic()
    raw = client(gw).chat.completions.with_raw_response.create(model="auto", messages=HI, stream=True)
    chunks = list(raw.parse())
    assert raw.headers["x-route-provider"] == "fb" and chunks
    assert time.monotonic() - started < 20  # GATEWAY_FIRST_BYTE_TIMEOUT_S is 4 in this stack
    first = gw.settled(gw.route_logs(request_id=raw.headers["x-route-request-id"])[-1]["decision_id"])
    assert first["attempt"] == 1 and first["attempt_record"]["outcome"] == "timeout"


def test_every_attempt_failing_is_a_502_that_names_them(gw):
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fb", "fake": "b"})
    gw.fakes["a"].set(mode="error_500")
    gw.fakes["b"].set(mode="error_500")
    r = chat(gw, {"model": "auto", "messages": HI})
    assert r.status_code == 502 and r.json()["error"]["type"] == "upstream_error"
    assert [a["provider"] for a in r.json()["error"]["details"]["attempts"]] == ["fa", "fb"]
    assert r.headers["x-route-provider"] == "fb"


def test_the_openai_client_does_not_repeat_a_failover_that_failed(gw):
    # The openai package retries a 5xx twice by default; the gateway already tried every candidate, so it says
    # x-should-retry: false and each provider is called once, not three times (which also opened its breaker).
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fb", "fake": "b"})
    gw.fakes["a"].set(mode="error_500")
    gw.fakes["b"].set(mode="error_500")
    retrying = OpenAI(base_url=gw.url + "/v1", api_key=gw.member, max_retries=2, timeout=TIMEOUT)
    with pytest.raises(openai.InternalServerError) as failed:
        retrying.chat.completions.create(model="auto", messages=HI)
    assert failed.value.status_code == 502
    assert failed.value.response.headers["x-should-retry"] == "false"
    assert len(gw.fakes["a"].requests) == 1 and len(gw.fakes["b"].requests) == 1


def test_a_provider_refusing_our_key_is_a_502_the_client_does_not_repeat(gw):
    gw.providers({"key": "fa", "fake": "a", "api_key_env": "FAKE_KEY_B"})  # b's key: a answers 401
    retrying = OpenAI(base_url=gw.url + "/v1", api_key=gw.member, max_retries=2, timeout=TIMEOUT)
    with pytest.raises(openai.InternalServerError) as failed:
        retrying.chat.completions.create(model="auto", messages=HI)
    assert failed.value.status_code == 502 and failed.value.response.headers["x-should-retry"] == "false"
    assert len(gw.fakes["a"].requests) == 1


def test_a_stream_cut_midway_ends_with_an_error_event_and_no_done(gw):
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fb", "fake": "b"})
    gw.fakes["a"].set(mode="cut", chunks=6, cut_after=2, chunk_delay_s=0.05)
    with gw.stream_chat({"model": "auto", "messages": HI, "stream": True}) as r:
        assert r.status_code == 200
        decision = r.headers["x-route-decision-id"]
        events = sse_events(r.read().decode())
    assert "[DONE]" not in events
    assert json.loads(events[-1])["error"]["code"] == "stream_truncated"
    assert gw.fakes["b"].requests == []  # never a failover after the first byte
    with pytest.raises(openai.APIError):
        list(client(gw).chat.completions.create(model="fa", messages=HI, stream=True))
    log = gw.settled(decision)
    assert log["attempt_record"]["outcome"] == "truncated"
    assert log["attempt_record"]["usage_source"] == "estimated"
    # Settled at the reservation's estimate: the settlement adjusts by exactly zero.
    entries = {e["kind"]: e for e in gw.ledger(decision_id=decision)}
    assert entries["settlement"]["amount_nanos"] == 0 and entries["settlement"]["usage_source"] == "estimated"
    assert entries["reservation"]["amount_nanos"] == (HI_ESTIMATE + 1024) * 10_000


def test_missing_usage_settles_the_estimate(gw):
    gw.providers({"key": "fa", "fake": "a"})
    gw.fakes["a"].set(mode="no_usage")
    raw = client(gw).chat.completions.with_raw_response.create(model="auto", messages=HI, max_tokens=40)
    assert raw.headers["x-route-cost"] == "0.000480000"  # (8 + 40) tokens at $10 per 1M
    attempt = gw.settled(raw.headers["x-route-decision-id"])["attempt_record"]
    assert attempt["usage_source"] == "estimated" and attempt["cost_nanos"] == 48 * 10_000


def test_a_client_that_disconnects_mid_stream_closes_the_upstream_call(gw):
    gw.providers({"key": "fa", "fake": "a"})
    gw.fakes["a"].set(mode="slow", text="x" * 300, chunks=100, chunk_delay_s=0.05)
    with gw.stream_chat({"model": "auto", "messages": HI, "stream": True}) as r:
        decision = r.headers["x-route-decision-id"]
        lines = r.iter_lines()
        got = [next(lines) for _ in range(6)]
        assert any(line.startswith("data: ") for line in got)
    [outcome] = gw.fakes["a"].wait_outcomes(1)
    assert outcome.result == "client_closed" and outcome.chunks_sent < 100
    attempt = gw.settled(decision)["attempt_record"]
    assert attempt["outcome"] == "client_closed" and attempt["usage_source"] == "estimated"
    # The prompt estimate plus the text relayed before the client left, never the whole reservation.
    assert HI_ESTIMATE <= attempt["prompt_tokens"] + attempt["completion_tokens"] < HI_ESTIMATE + 100


def test_the_circuit_breaker_opens_cools_down_and_closes_after_a_probe(gw):
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fb", "fake": "b"})
    gw.fakes["a"].set(mode="error_500")
    events: list[dict[str, Any]] = []

    async def watch(stop: asyncio.Event) -> None:
        async with websockets.connect(gw.url.replace("http", "ws") + f"/ws/?token={gw.member}") as ws:
            await ws.send(json.dumps({"type": "subscribe", "events": ["provider_breaker_changed"]}))
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            stop.set()
            while True:
                events.append(json.loads(await ws.recv()))

    loop = asyncio.new_event_loop()
    ready = asyncio.Event()
    watcher = loop.create_task(watch(ready))
    loop.run_until_complete(asyncio.wait_for(ready.wait(), TIMEOUT))
    try:
        for _ in range(2):  # LLMROUTER_BREAKER_FAILURES is 2 in this stack
            r = client(gw).chat.completions.with_raw_response.create(model="auto", messages=HI)
            assert r.headers["x-route-provider"] == "fb"
        deadline = time.monotonic() + TIMEOUT
        while gw.provider("fa")["breaker_state"] != "open" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gw.provider("fa")["breaker_state"] == "open"
        health = httpx.get(gw.url + "/health", timeout=TIMEOUT).json()
        [fa] = [p for p in health["llm_router"]["providers"] if p["key"] == "fa"]
        assert fa["breaker"] == "open" and any("fa" in p and "circuit breaker" in p for p in health["problems"])
        seen = len(gw.fakes["a"].requests)
        r = client(gw).chat.completions.with_raw_response.create(model="auto", messages=HI)
        assert r.headers["x-route-provider"] == "fb" and r.headers["x-route-attempts"] == "1"
        assert len(gw.fakes["a"].requests) == seen  # cooling down: not even tried
        log = gw.api("GET", f"/api/route-logs/{r.headers['x-route-decision-id']}/").json()
        assert {c["provider"]: c.get("excluded") for c in log["candidates"]}["fa"] == "cooling_down"
        gw.fakes["a"].set(mode="ok")
        time.sleep(5.2)  # LLMROUTER_BREAKER_COOLDOWN_S is 5 in this stack
        r = client(gw).chat.completions.with_raw_response.create(model="auto", messages=HI)
        assert r.headers["x-route-provider"] == "fa"  # the probe
        while gw.provider("fa")["breaker_state"] != "closed" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gw.provider("fa")["breaker_state"] == "closed"
        loop.run_until_complete(asyncio.sleep(0.5))
    finally:
        watcher.cancel()
        loop.run_until_complete(asyncio.gather(watcher, return_exceptions=True))
        loop.close()
    moves = [(e["provider"], e["previous"], e["breaker"]) for e in events]
    assert ("fa", "closed", "open") in moves and ("fa", "half_open", "closed") in moves
    assert gw.provider("fa")["observed_ttfb_ms"] is not None


BAD = [
    ("malformed JSON", b'{"model": "auto", "messages": [', 400, "invalid_json"),
    ("not UTF-8", b'{"model": "auto", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, "invalid_encoding"),
    ("not an object", b"[1, 2]", 400, "invalid_request"),
    ("missing messages", b'{"model": "auto"}', 400, "invalid_value"),
    ("empty messages", b'{"model": "auto", "messages": []}', 400, "invalid_value"),
    ("bad role", b'{"model": "auto", "messages": [{"role": "robot", "content": "x"}]}', 400, "invalid_value"),
    ("missing model", b'{"messages": [{"role": "user", "content": "hi"}]}', 400, "invalid_value"),
    ("user message without content", b'{"model": "auto", "messages": [{"role": "user"}]}', 400, "invalid_value"),
    ("unknown model", b'{"model": "nope", "messages": [{"role": "user", "content": "hi"}]}', 404, "model_not_found"),
    (
        "max_tokens over every context window",
        b'{"model": "auto", "max_tokens": 5000000, "messages": [{"role": "user", "content": "hi"}]}',
        400,
        "context_length_exceeded",
    ),
    (
        "max_tokens not an integer",
        b'{"model": "auto", "max_tokens": "lots", "messages": [{"role": "user", "content": "hi"}]}',
        400,
        "invalid_value",
    ),
    (
        "unknown route field",
        b'{"model": "auto", "route": {"speed": "warp"}, "messages": [{"role": "user", "content": "hi"}]}',
        400,
        "unknown_parameter",
    ),
    (
        "bad route priority",
        b'{"model": "auto", "route": {"priority": "urgent"}, "messages": [{"role": "user", "content": "hi"}]}',
        400,
        "invalid_value",
    ),
    (
        "stream not a boolean",
        b'{"model": "auto", "stream": "yes", "messages": [{"role": "user", "content": "hi"}]}',
        400,
        "invalid_value",
    ),
]


@pytest.mark.parametrize("name, raw, status, code", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_an_openai_error_and_touches_nothing(gw, name, raw, status, code):
    gw.providers({"key": "fa", "fake": "a"})
    logs, entries = len(gw.route_logs()), len(gw.ledger())
    r = chat(gw, None, raw=raw)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]
    assert len(gw.route_logs()) == logs and len(gw.ledger()) == entries
    assert gw.fakes["a"].requests == []


def test_a_body_that_is_not_a_json_object_is_called_the_body_not_a_frame(gw):
    for raw, message in (
        (b'{"model": "auto", "messages": [', "The body is not valid JSON: "),
        (b"[1, 2]", "The body must be a JSON object, got list"),
    ):
        error = chat(gw, None, raw=raw).json()["error"]
        assert error["message"].startswith(message), error  # an OpenAI client never sent a "frame"


def test_a_body_over_the_limit_is_413(gw):
    gw.providers({"key": "fa", "fake": "a"})
    huge = json.dumps({"model": "auto", "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]})
    r = chat(gw, None, raw=huge.encode())
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


def test_closing_a_breaker_by_hand_is_an_event_too(gw):
    gw.providers({"key": "fa", "fake": "a"}, {"key": "fb", "fake": "b"})
    gw.fakes["a"].set(mode="error_500")
    for _ in range(2):  # LLMROUTER_BREAKER_FAILURES is 2 in this stack
        assert client(gw).chat.completions.with_raw_response.create(model="auto", messages=HI).status_code == 200
    deadline = time.monotonic() + TIMEOUT
    while gw.provider("fa")["breaker_state"] != "open" and time.monotonic() < deadline:
        time.sleep(0.05)

    async def reset_and_listen() -> dict[str, Any]:
        async with websockets.connect(gw.url.replace("http", "ws") + f"/ws/?token={gw.member}") as ws:
            await ws.send(json.dumps({"type": "subscribe", "events": ["provider_breaker_changed"]}))
            await asyncio.wait_for(ws.recv(), TIMEOUT)
            reset = await asyncio.to_thread(gw.api, "POST", "/api/providers/fa/reset-breaker/")
            assert reset.status_code == 200 and reset.json()["breaker_state"] == "closed"
            return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))

    event = asyncio.run(reset_and_listen())
    assert (event["provider"], event["previous"], event["breaker"]) == ("fa", "open", "closed")
    assert "by hand" in event["error"]


def test_no_money_is_402_and_no_capable_provider_is_422_with_the_reasons(gw):
    gw.providers({"key": "fa", "fake": "a"}, budget="0.0001")
    poor = chat(gw, {"model": "auto", "messages": HI})
    assert poor.status_code == 402 and poor.json()["error"]["code"] == "budget_exceeded"
    assert "fa" in poor.json()["error"]["details"]["excluded"]
    assert poor.headers["x-route-decision-id"].startswith("rt_")
    gw.providers({"key": "fa", "fake": "a"})
    unfit = chat(gw, {"model": "auto", "messages": HI, "route": {"task_type": "poetry"}})
    assert unfit.status_code == 422 and unfit.json()["error"]["code"] == "no_suitable_provider"
    gw.providers({"key": "fa", "fake": "a", "api_key_env": "NO_SUCH_KEY_VARIABLE"})
    nokey = chat(gw, {"model": "auto", "messages": HI})
    assert nokey.status_code == 422
    assert "NO_SUCH_KEY_VARIABLE" in nokey.json()["error"]["details"]["excluded"]["fa"]
    # As README.md and docs/gateway.md say: the reason in words under excluded, the code under candidates.
    codes = {c["provider"]: c.get("excluded") for c in nokey.json()["error"]["details"]["candidates"]}
    assert codes["fa"] == "no_credentials"
    assert gw.provider("fa")["api_key_set"] is False and "NO_SUCH" not in str(gw.fakes["a"].requests)
    assert gw.fakes["a"].requests == []


def test_the_decision_only_endpoint_is_unchanged_by_the_gateway(gw):
    gw.providers({"key": "fa", "fake": "a", "api_key_env": "NO_SUCH_KEY_VARIABLE"})
    # No credentials matter to a decision-only caller: it makes the call itself.
    r = httpx.post(gw.url + "/api/route-llm", json={"token_count": 100, "task_type": "coding"}, timeout=TIMEOUT)
    assert r.status_code == 200 and r.json()["provider_key"] == "fa"
