"""The fake LLM providers (tests/support/fake_provider.py) against real clients.

The OpenAI format is driven with the real ``openai`` package (what the
gateway's users run), the Anthropic format with httpx and a plain SSE reader
(what the gateway's adapter does). Each mode is covered in both formats
where the formats differ.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.support.fake_provider import FakeProvider

ROOT = Path(__file__).resolve().parents[2]
HI: list[Any] = [{"role": "user", "content": "hi"}]  # Any: the openai package wants its typed message dicts


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeProvider]:
    with FakeProvider(api_format="openai") as fake:
        yield fake


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeProvider]:
    with FakeProvider(api_format="anthropic") as fake:
        yield fake


def _fresh(fake: FakeProvider) -> Iterator[FakeProvider]:
    """The module's fake, answering normally with nothing recorded; after the test, no failure of its own."""
    fake.set(mode="ok")
    fake.clear()
    yield fake
    assert fake.failures == 0
    fake.release()


@pytest.fixture
def oai(openai_fake: FakeProvider) -> Iterator[FakeProvider]:
    yield from _fresh(openai_fake)


@pytest.fixture
def ant(anthropic_fake: FakeProvider) -> Iterator[FakeProvider]:
    yield from _fresh(anthropic_fake)


def client(fake: FakeProvider, **kwargs: Any) -> Any:
    # Any, not OpenAI: the client is the wire format's oracle here, and its typed overloads and Optional
    # fields would need a cast or an assert around every answer these tests read.
    return OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0, **kwargs)


def anthropic_headers(fake: FakeProvider) -> dict[str, str]:
    return {"x-api-key": fake.api_key, "anthropic-version": "2023-06-01"}


def anthropic_body(**extra) -> dict:
    return {"model": "claude-fake", "max_tokens": 100, "messages": HI, **extra}


def sse_events(lines: Iterator[str]) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of a text/event-stream, in order."""
    events: list[tuple[str | None, str]] = []
    name: str | None = None
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                events.append((name, "\n".join(data)))
            name, data = None, []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


# --- OpenAI format, with the openai package ---------------------------------------------------------


def test_openai_completion_reports_usage_with_cached_tokens(oai: FakeProvider) -> None:
    oai.set(text="Hello world", prompt_tokens=40, completion_tokens=9, cached_tokens=16)
    answer = client(oai).chat.completions.create(model="gpt-fake", messages=HI, max_tokens=50)
    assert answer.choices[0].message.content == "Hello world"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "gpt-fake"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (40, 9, 49)
    assert answer.usage.prompt_tokens_details.cached_tokens == 16
    path, headers, body = oai.requests[-1]
    assert path == "/v1/chat/completions"
    assert headers["authorization"] == f"Bearer {oai.api_key}"
    assert body["max_tokens"] == 50 and body["messages"] == HI


def test_openai_usage_has_no_details_unless_cached_tokens_is_set(oai: FakeProvider) -> None:
    answer = client(oai).chat.completions.create(model="m", messages=HI)
    assert answer.usage.prompt_tokens_details is None  # as vLLM and Ollama answer


def test_openai_stream_ends_with_a_usage_chunk_then_done(oai: FakeProvider) -> None:
    oai.set(text="abcdefghij", chunks=5, prompt_tokens=3, completion_tokens=5, cached_tokens=1)
    chunks = list(
        client(oai).chat.completions.create(model="m", messages=HI, stream=True, stream_options={"include_usage": True})
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "abcdefghij"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 1
    assert all(c.usage is None for c in chunks[:-1])
    # On the wire: "data: {...}" events, the last one "data: [DONE]".
    raw = httpx.post(
        oai.base_url + "/chat/completions",
        headers={"authorization": f"Bearer {oai.api_key}"},
        json={"model": "m", "messages": HI, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    events = sse_events(iter(raw.text.split("\n")))
    assert events[-1] == (None, "[DONE]") and len(events) == 1 + 5 + 1 + 1 + 1
    assert all(json.loads(data)["usage"] is None for _, data in events[:-2])


def test_openai_stream_without_include_usage_has_no_usage_chunk(oai: FakeProvider) -> None:
    chunks = list(client(oai).chat.completions.create(model="m", messages=HI, stream=True))
    assert all(c.choices for c in chunks) and all(c.usage is None for c in chunks)


def test_openai_models_lists_the_configured_models_and_refuses_others() -> None:
    with FakeProvider(api_format="openai", models=["small", "large"]) as fake:
        assert [m.id for m in client(fake).models.list()] == ["small", "large"]
        with pytest.raises(openai.NotFoundError) as refused:
            client(fake).chat.completions.create(model="other", messages=HI)
        assert refused.value.code == "model_not_found"
        assert client(fake).chat.completions.create(model="large", messages=HI).model == "large"


def test_openai_wrong_key_is_401_in_openai_shape(oai: FakeProvider) -> None:
    with pytest.raises(openai.AuthenticationError) as refused:
        OpenAI(base_url=oai.base_url, api_key="sk-wrong", max_retries=0).chat.completions.create(model="m", messages=HI)
    assert refused.value.status_code == 401
    assert refused.value.body == {
        "message": "Incorrect API key provided.",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }


@pytest.mark.parametrize("api_format, path", [("openai", "/v1/chat/completions"), ("anthropic", "/v1/messages")])
def test_an_empty_api_key_means_no_key_is_needed(api_format: str, path: str) -> None:
    with FakeProvider(api_format=api_format, api_key="") as fake:  # like a local Ollama
        answer = httpx.post(fake.url + path, json=anthropic_body(), headers={"anthropic-version": "2023-06-01"})
        assert answer.status_code == 200 and "authorization" not in fake.requests[-1].headers


@pytest.mark.parametrize(
    "body, problem",
    [
        ({"model": "m", "messages": []}, "messages"),
        ({"messages": HI}, "model"),
        ({"model": "m", "messages": HI, "stream_options": {"include_usage": True}}, "stream_options"),
    ],
)
def test_openai_invalid_request_is_400(oai: FakeProvider, body: dict, problem: str) -> None:
    answer = httpx.post(
        oai.base_url + "/chat/completions", json=body, headers={"authorization": f"Bearer {oai.api_key}"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request_error" and problem in answer.json()["error"]["message"]


def test_malformed_json_is_400_and_the_connection_stays_usable(oai: FakeProvider) -> None:
    before = oai.connections_accepted
    with httpx.Client(headers={"authorization": f"Bearer {oai.api_key}"}) as http:
        assert http.post(oai.base_url + "/chat/completions", content=b"{not json").status_code == 400
        assert http.post(oai.base_url + "/chat/completions", json={"model": "m", "messages": HI}).status_code == 200
        assert http.get(oai.url + "/nowhere").status_code == 404
    assert oai.connections_accepted - before == 1 and len(oai.requests) == 3


def test_openai_error_modes_raise_the_matching_client_errors(oai: FakeProvider) -> None:
    oai.set(mode="error_500")
    with pytest.raises(openai.InternalServerError) as failed:
        client(oai).chat.completions.create(model="m", messages=HI, stream=True)
    assert isinstance(failed.value.body, dict) and failed.value.body["type"] == "server_error"
    oai.set(mode="error_429", retry_after_s=2)
    with pytest.raises(openai.RateLimitError) as limited:
        client(oai).chat.completions.create(model="m", messages=HI)
    assert limited.value.response.headers["retry-after"] == "2"
    assert limited.value.code == "rate_limit_exceeded"
    assert [o.status for o in oai.outcomes] == [500, 429]


def test_openai_stall_sends_no_byte_until_released(oai: FakeProvider) -> None:
    oai.set(mode="stall")
    with pytest.raises(openai.APITimeoutError):
        client(oai, timeout=0.5).chat.completions.create(model="m", messages=HI)
    answers: list = []
    caller = threading.Thread(
        target=lambda: answers.append(
            client(oai, timeout=60).chat.completions.create(model="m", messages=HI, stream=True).response.status_code
        )
    )
    caller.start()
    oai.wait_requests(2)
    time.sleep(0.3)
    assert answers == []  # still nothing on the wire
    oai.release()
    caller.join(30)
    assert answers == [200]
    assert [o.result for o in oai.wait_outcomes(2)] == ["client_closed", "complete"]


def test_openai_stall_s_answers_after_that_long(oai: FakeProvider) -> None:
    oai.set(mode="stall", stall_s=0.3)
    started = time.monotonic()
    assert client(oai).chat.completions.create(model="m", messages=HI).choices[0].message.content
    assert time.monotonic() - started >= 0.3


def test_openai_cut_stream_breaks_after_cut_after_chunks_without_done(oai: FakeProvider) -> None:
    oai.set(mode="cut", text="0123456789", chunks=5, cut_after=2, chunk_delay_s=0.01)
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client(oai).chat.completions.create(
            model="m", messages=HI, stream=True, stream_options={"include_usage": True}
        ):
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "01", "23"]
    assert oai.wait_outcomes(1)[-1].result == "cut" and oai.outcomes[-1].chunks_sent == 2


def test_openai_stream_error_is_an_error_event_without_done(oai: FakeProvider) -> None:
    oai.set(mode="stream_error", text="0123456789", chunks=5, cut_after=3)
    received = []
    with pytest.raises(openai.APIError) as failed:
        for chunk in client(oai).chat.completions.create(model="m", messages=HI, stream=True):
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "01", "23", "45"]
    assert isinstance(failed.value.body, dict) and failed.value.body["type"] == "server_error"
    raw = httpx.post(
        oai.base_url + "/chat/completions",
        headers={"authorization": f"Bearer {oai.api_key}"},
        json={"model": "m", "messages": HI, "stream": True},
    )
    events = sse_events(iter(raw.text.split("\n")))
    assert raw.status_code == 200 and "error" in json.loads(events[-1][1]) and (None, "[DONE]") not in events
    assert [o.result for o in oai.wait_outcomes(2)] == ["error_event", "error_event"]
    with pytest.raises(openai.InternalServerError):
        client(oai).chat.completions.create(model="m", messages=HI)


def test_cut_non_streamed_answer_is_closed_halfway(oai: FakeProvider) -> None:
    oai.set(mode="cut")
    with pytest.raises(openai.APIConnectionError):
        client(oai).chat.completions.create(model="m", messages=HI)


def test_openai_no_usage_mode_reports_none(oai: FakeProvider) -> None:
    oai.set(mode="no_usage")
    assert client(oai).chat.completions.create(model="m", messages=HI).usage is None
    chunks = list(
        client(oai).chat.completions.create(model="m", messages=HI, stream=True, stream_options={"include_usage": True})
    )
    assert chunks and all(c.choices and c.usage is None for c in chunks)


def test_openai_slow_stream_spaces_its_chunks(oai: FakeProvider) -> None:
    oai.set(mode="slow", chunks=4, chunk_delay_s=0.1)
    arrivals = []
    for _ in client(oai).chat.completions.create(model="m", messages=HI, stream=True):
        arrivals.append(time.monotonic())
    assert len(arrivals) == 1 + 4 + 1
    assert arrivals[-1] - arrivals[0] >= 4 * 0.1 * 0.9  # only a lower bound: the machine may be slower


def test_client_that_leaves_mid_stream_is_recorded_as_client_closed(oai: FakeProvider) -> None:
    oai.set(mode="slow", chunks=50, chunk_delay_s=0.05)
    stream = client(oai).chat.completions.create(model="m", messages=HI, stream=True)
    next(iter(stream))
    stream.close()
    outcome = oai.wait_outcomes(1, timeout=10)[-1]
    assert outcome.result == "client_closed" and outcome.chunks_sent < 50


def test_slow_stream_follows_the_readers_flow_control(oai: FakeProvider) -> None:
    # 256 chunks of 128 KiB (32 MiB): more than the kernel's socket buffers hold.
    oai.set(mode="slow", text="x" * (128 * 1024 * 256), chunks=256, chunk_delay_s=0)
    body = json.dumps({"model": "m", "messages": HI, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", oai.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b"authorization: Bearer " + oai.api_key.encode() + b"\r\ncontent-length: %d\r\n\r\n" % len(body) + body
        )
        time.sleep(1.0)
        assert oai.outcomes == []  # the writer waits for this reader
        received, tail = 0, b""
        while not tail.endswith(b"\r\n0\r\n\r\n"):
            data = sock.recv(1 << 20)
            assert data, "connection closed before the end of the stream"
            received, tail = received + len(data), (tail + data)[-16:]
    assert received > 32 * 1024 * 1024
    assert oai.outcomes[-1].result == "complete" and oai.outcomes[-1].chunks_sent == 256


def test_keep_alive_serves_many_requests_on_one_connection(oai: FakeProvider) -> None:
    before = oai.connections_accepted
    fast = client(oai)
    for _ in range(20):
        fast.chat.completions.create(model="m", messages=HI)
    assert oai.connections_accepted - before == 1


def test_two_hundred_concurrent_streams_all_complete(oai: FakeProvider) -> None:
    oai.set(mode="slow", chunks=5, chunk_delay_s=0.05)

    async def one(http: httpx.AsyncClient) -> str:
        async with http.stream(
            "POST", oai.base_url + "/chat/completions", json={"model": "m", "messages": HI, "stream": True}
        ) as answer:
            return [line async for line in answer.aiter_lines() if line][-1]

    async def main() -> list[str]:
        limits = httpx.Limits(max_connections=300)
        async with httpx.AsyncClient(
            headers={"authorization": f"Bearer {oai.api_key}"}, limits=limits, timeout=60
        ) as http:
            return await asyncio.gather(*(one(http) for _ in range(200)))

    assert asyncio.run(main()) == ["data: [DONE]"] * 200
    assert len(oai.wait_outcomes(200)) == 200
    assert {o.result for o in oai.outcomes} == {"complete"}


def test_chunked_request_bodies_are_read(oai: FakeProvider) -> None:
    def parts() -> Iterator[bytes]:
        yield b'{"model": "m", '
        yield b'"messages": [{"role": "user", "content": "hi"}]}'

    answer = httpx.post(
        oai.base_url + "/chat/completions",
        content=parts(),
        headers={"authorization": f"Bearer {oai.api_key}", "content-type": "application/json"},
    )
    assert answer.status_code == 200 and oai.requests[-1].headers["transfer-encoding"] == "chunked"
    assert oai.requests[-1].body["messages"] == HI


def test_http_1_0_answer_closes_the_connection(oai: FakeProvider) -> None:
    with socket.create_connection(("127.0.0.1", oai.port)) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.0\r\nauthorization: Bearer " + oai.api_key.encode() + b"\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK") and b"connection: close" in data and data.endswith(b"}")


def test_oversized_head_is_431_and_the_answer_is_not_lost_in_a_reset(oai: FakeProvider) -> None:
    with socket.create_connection(("127.0.0.1", oai.port)) as sock:
        # Far past the 64 KiB limit: bytes still unread when the fake closes must not reset the connection.
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nx-big: " + b"a" * 300_000)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 431 ")


# --- Anthropic Messages format, with httpx ------------------------------------------------------------


def test_anthropic_message_reports_input_without_cached_part(ant: FakeProvider) -> None:
    ant.set(text="Bonjour", prompt_tokens=30, completion_tokens=4, cached_tokens=10)
    answer = httpx.post(ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body())
    assert answer.status_code == 200 and answer.headers["request-id"].startswith("req_")
    message = answer.json()
    assert message["type"] == "message" and message["role"] == "assistant" and message["stop_reason"] == "end_turn"
    assert message["content"] == [{"type": "text", "text": "Bonjour"}]
    assert message["usage"] == {
        "input_tokens": 20,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 10,
        "output_tokens": 4,
    }
    path, headers, body = ant.requests[-1]
    assert path == "/v1/messages" and headers["x-api-key"] == ant.api_key and body["max_tokens"] == 100
    assert ant.base_url == ant.url


def test_anthropic_stream_has_the_messages_api_event_sequence(ant: FakeProvider) -> None:
    ant.set(text="abcdef", chunks=3, prompt_tokens=11, completion_tokens=6)
    with httpx.stream(
        "POST", ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body(stream=True)
    ) as answer:
        events = sse_events(answer.iter_lines())
    names = [name for name, _ in events]
    assert names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 3 + [
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = [json.loads(d) for _, d in events]
    assert all(d["type"] == name for d, name in zip(data, names, strict=True))
    assert data[0]["message"]["usage"]["input_tokens"] == 11 and data[0]["message"]["usage"]["output_tokens"] == 1
    assert "".join(d["delta"]["text"] for d in data if d["type"] == "content_block_delta") == "abcdef"
    # The cumulative output count: a reader replaces message_start's 1, it does not add to it.
    assert data[-2]["usage"] == {"output_tokens": 6} and data[-2]["delta"]["stop_reason"] == "end_turn"


@pytest.mark.parametrize(
    "headers, body, status, kind",
    [
        ({"x-api-key": "wrong", "anthropic-version": "2023-06-01"}, anthropic_body(), 401, "authentication_error"),
        ({"anthropic-version": "2023-06-01"}, anthropic_body(), 401, "authentication_error"),
        ({}, anthropic_body(), 400, "invalid_request_error"),
        (None, {"model": "c", "messages": HI}, 400, "invalid_request_error"),
        (None, anthropic_body(messages=[{"role": "system", "content": "be brief"}] + HI), 400, "invalid_request_error"),
    ],
)
def test_anthropic_refusals_use_its_error_shape(ant: FakeProvider, headers, body, status, kind) -> None:
    sent = (
        anthropic_headers(ant)
        if headers is None
        else {**headers, **({"x-api-key": ant.api_key} if headers == {} else {})}
    )
    answer = httpx.post(ant.url + "/v1/messages", headers=sent, json=body)
    assert answer.status_code == status
    assert answer.json()["type"] == "error" and answer.json()["error"]["type"] == kind


@pytest.mark.parametrize(
    "mode, status, kind", [("error_500", 500, "api_error"), ("error_429", 429, "rate_limit_error")]
)
def test_anthropic_error_modes(ant: FakeProvider, mode: str, status: int, kind: str) -> None:
    ant.set(mode=mode)
    answer = httpx.post(ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body(stream=True))
    assert answer.status_code == status and answer.json()["error"]["type"] == kind


def test_anthropic_cut_stream_has_no_message_stop(ant: FakeProvider) -> None:
    ant.set(mode="cut", chunks=6, cut_after=3, chunk_delay_s=0.01)
    lines: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body(stream=True)
        ) as answer,
    ):
        for line in answer.iter_lines():
            lines.append(line)
    names = [name for name, _ in sse_events(iter(lines + [""]))]
    assert names == ["message_start", "content_block_start", "ping"] + ["content_block_delta"] * 3


def test_anthropic_stream_error_is_an_error_event_without_message_stop(ant: FakeProvider) -> None:
    ant.set(mode="stream_error", chunks=4, cut_after=1)
    with httpx.stream(
        "POST", ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body(stream=True)
    ) as answer:
        events = sse_events(answer.iter_lines())
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "error",
    ]
    assert json.loads(events[-1][1]) == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_anthropic_no_usage_mode_omits_usage(ant: FakeProvider) -> None:
    ant.set(mode="no_usage")
    assert (
        "usage"
        not in httpx.post(ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body()).json()
    )
    with httpx.stream(
        "POST", ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body(stream=True)
    ) as answer:
        data = [json.loads(d) for _, d in sse_events(answer.iter_lines())]
    assert "usage" not in data[0]["message"] and "usage" not in data[-2]


def test_anthropic_stall_then_slow(ant: FakeProvider) -> None:
    ant.set(mode="stall")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body(), timeout=0.5)
    ant.set(mode="slow", chunks=3, chunk_delay_s=0.1)
    started = time.monotonic()
    answer = httpx.post(ant.url + "/v1/messages", headers=anthropic_headers(ant), json=anthropic_body())
    assert answer.status_code == 200 and time.monotonic() - started >= 0.3 * 0.9


def test_anthropic_models_list(ant: FakeProvider) -> None:
    answer = httpx.get(ant.url + "/v1/models", headers=anthropic_headers(ant))
    assert answer.json()["data"][0]["id"] == "fake-model" and answer.json()["has_more"] is False


# --- the fake itself ----------------------------------------------------------------------------------


def test_unknown_mode_is_refused_at_set() -> None:
    with FakeProvider() as fake, pytest.raises(ValueError, match="unknown mode"):
        fake.set(mode="teapot")


def test_stop_drops_open_connections_and_frees_the_port() -> None:
    fake = FakeProvider().start()
    fake.set(mode="stall")
    port = fake.port
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.recv(65536)
        fake.stop()
        assert sock.recv(1) == b""
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_runs_as_a_process_until_sigterm() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.fake_provider",
            "--api-format",
            "anthropic",
            "--text",
            "from a process",
            "--api-key",
            "k1",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["api_key"] == "k1" and started["base_url"] == started["url"]
        answer = httpx.post(
            started["url"] + "/v1/messages",
            json=anthropic_body(),
            headers={"x-api-key": "k1", "anthropic-version": "2023-06-01"},
        )
        assert answer.json()["content"][0]["text"] == "from a process"
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0


def test_the_process_help_lists_the_modes_and_a_bad_mode_is_a_usage_error() -> None:
    command = [sys.executable, "-m", "tests.support.fake_provider"]
    shown = subprocess.run([*command, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    assert "error_500" in shown.stdout and "stream_error" in shown.stdout
    bad = subprocess.run([*command, "--mode", "eror_500"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr and "Traceback" not in bad.stderr
