"""The gateway's pure parts: the token estimate, SSE parsing, adapters' usage, breaker moves, prices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from llmgateway import sse, tokens
from llmgateway.adapters.anthropic import AnthropicStream, translate_messages
from llmgateway.adapters.openai import OpenAIStream
from llmgateway.chat import parse_chat_request
from llmgateway.errors import GatewayError
from llmrouter import breaker
from llmrouter.settlement import Prices, usage_cost_nanos

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def test_the_prompt_estimate_is_bytes_over_three_plus_per_message_overhead():
    assert tokens.estimate_prompt_tokens([{"role": "user", "content": "hi"}]) == 1 + 4 + 3
    parts = [{"role": "user", "content": [{"type": "text", "text": "x" * 30}]}, {"role": "assistant", "content": "é"}]
    assert tokens.estimate_prompt_tokens(parts) == 11 + 8 + 3  # 30 + 2 UTF-8 bytes


def test_sse_events_split_across_reads_and_crlf():
    p = sse.SSEParser()
    assert p.feed(b'data: {"a"') == []
    assert p.feed(b": 1}\r\n\r\nevent: ping\r") == [("message", b'{"a": 1}')]
    assert p.feed(b"\ndata: x\n\n: comment\n\ndata: [DONE]\n\n") == [("ping", b"x"), ("message", b"[DONE]")]
    assert not p.pending


def test_the_openai_stream_drops_the_usage_chunk_the_client_did_not_ask_for():
    reader = OpenAIStream(include_usage=False)
    content = orjson.dumps({"choices": [{"index": 0, "delta": {"content": "hé"}}]})
    assert reader.feed("message", content) == [b"data: " + content + b"\n\n"]
    usage = orjson.dumps(
        {
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 3}},
        }
    )
    assert reader.feed("message", usage) == []
    assert reader.feed("message", b"[DONE]") == [sse.DONE] and reader.done
    assert (reader.usage.prompt_tokens, reader.usage.completion_tokens, reader.usage.cached_tokens) == (5, 2, 3)
    assert reader.text_bytes == 3


def test_anthropic_stream_usage_is_replaced_not_added():
    reader = AnthropicStream(include_usage=True, model="m")
    reader.feed(
        "message_start",
        orjson.dumps(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_1",
                    "model": "claude",
                    "usage": {"input_tokens": 30, "cache_read_input_tokens": 10, "output_tokens": 1},
                },
            }
        ),
    )
    reader.feed(
        "content_block_delta",
        orjson.dumps({"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Hi"}}),
    )
    reader.feed("message_delta", orjson.dumps({"type": "message_delta", "usage": {"output_tokens": 4}}))
    reader.feed(
        "message_delta",
        orjson.dumps({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 9}}),
    )
    out = reader.feed("message_stop", orjson.dumps({"type": "message_stop"}))
    assert (reader.usage.prompt_tokens, reader.usage.completion_tokens, reader.usage.cached_tokens) == (40, 9, 10)
    assert out[-1] == sse.DONE and reader.done
    final = orjson.loads(out[0][len(b"data: ") :])
    assert final["choices"][0]["finish_reason"] == "length"
    assert orjson.loads(out[1][len(b"data: ") :])["usage"]["completion_tokens"] == 9


def test_system_and_developer_messages_become_anthropics_system():
    system, messages = translate_messages(
        [
            {"role": "system", "content": "A"},
            {"role": "developer", "content": "B"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ]
    )
    assert system == "A\n\nB" and messages == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_cost_is_exact_with_split_and_cached_prices():
    prices = Prices(Decimal("9"), Decimal("3.00"), Decimal("15.00"), Decimal("0.30"))
    assert usage_cost_nanos(prices=prices, prompt_tokens=1000, completion_tokens=250, cached_tokens=400) == 5_670_000
    assert usage_cost_nanos(prices=Prices(Decimal("10")), prompt_tokens=12, completion_tokens=7) == 190_000
    # Rounded up, never down: a reservation must not under-count.
    assert usage_cost_nanos(prices=Prices(Decimal("0.0001")), prompt_tokens=1, completion_tokens=0) == 1


def test_the_breaker_opens_cools_down_probes_and_closes():
    policy = breaker.BreakerPolicy(failures_to_open=2, cooldown_s=30, probe_timeout_s=60)
    s = breaker.after_failure(breaker.BreakerState(), NOW, policy)
    assert s.state == breaker.CLOSED and breaker.blocking_reason(s, NOW) is None
    s = breaker.after_failure(s, NOW, policy)
    assert s.state == breaker.OPEN and "cooling down" in breaker.blocking_reason(s, NOW + timedelta(seconds=29))
    later = NOW + timedelta(seconds=31)
    assert breaker.blocking_reason(s, later) is None and breaker.is_probe(s)
    probing = breaker.claim_probe(s, later, policy)
    assert breaker.blocking_reason(probing, later) == "circuit half-open: a probe request is in flight"
    assert breaker.after_failure(probing, later, policy).state == breaker.OPEN  # one failed probe re-opens
    assert breaker.after_neutral(probing, later) == breaker.BreakerState(breaker.OPEN, 2, later)
    assert breaker.after_success(probing) == breaker.BreakerState()


@pytest.mark.parametrize(
    "raw, param",
    [
        (b'{"model": "auto", "messages": [{"role": "user", "content": 5}]}', "messages[0].content"),
        (
            b'{"model": "auto", "messages": [{"role": "system", "content": ""}, {"role": "user"}]}',
            "messages[1].content",
        ),
        (b'{"model": "auto", "n": 2, "messages": [{"role": "user", "content": "x"}]}', "n"),
        (
            b'{"model": "auto", "route": {"max_latency": -1}, "messages": [{"role": "user", "content": "x"}]}',
            "route.max_latency",
        ),
        (
            b'{"model": "auto", "max_completion_tokens": 0, "messages": [{"role": "user", "content": "x"}]}',
            "max_completion_tokens",
        ),
    ],
)
def test_bad_fields_name_their_param(raw, param):
    with pytest.raises(GatewayError) as caught:
        parse_chat_request(raw)
    assert caught.value.status == 400 and caught.value.param == param


def test_an_assistant_message_that_calls_a_tool_needs_no_content():
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
    ]
    assert parse_chat_request(orjson.dumps({"model": "auto", "messages": messages})).body["messages"] == messages


def test_a_good_request_keeps_its_body_less_route(settings):
    chat = parse_chat_request(
        b'{"model": " fa ", "temperature": 0.2, "route": {"task_type": "Coding"},'
        b' "messages": [{"role": "user", "content": "hi"}]}'
    )
    assert chat.model == "fa" and chat.pin == "fa" and "route" not in chat.body and chat.body["temperature"] == 0.2
    assert chat.task_type == "coding" and chat.completion_tokens == 1024 and not chat.max_tokens_given


@pytest.mark.parametrize(
    "raw",
    [
        b'{"model": "auto", "messages": [{"role": ["user"], "content": "x"}]}',
        b'{"model": "auto", "messages": [{"role": {"a": 1}}]}',
    ],
)
def test_an_unhashable_role_is_a_400_not_a_crash(raw):
    with pytest.raises(GatewayError) as caught:
        parse_chat_request(raw)
    assert caught.value.status == 400 and caught.value.param == "messages[0].role"
