"""The two wire formats the fake LLM providers speak (tests/support/fake_provider.py).

Pure functions of (request body, behaviour, sequence number) -> bytes, no I/O,
following the public APIs closely enough that the real ``openai`` client and
an Anthropic adapter parse them:

* OpenAI chat completions (also what vLLM, Ollama, llama.cpp server and
  Gemini's compatible endpoint speak): ``POST /v1/chat/completions``,
  ``GET /v1/models``, ``Authorization: Bearer``; errors
  ``{"error": {"message", "type", "param", "code"}}``; streams are
  ``data: {chunk}`` lines, a role chunk first, then content deltas, a chunk
  with ``finish_reason``, with ``stream_options.include_usage`` a last chunk
  whose ``choices`` is empty and which alone carries ``usage`` (the others
  have ``"usage": null``), then ``data: [DONE]``.
* Anthropic Messages: ``POST /v1/messages``, ``x-api-key`` and
  ``anthropic-version`` headers, ``max_tokens`` required, only ``user`` and
  ``assistant`` roles (``system`` is a top-level field); errors
  ``{"type": "error", "error": {"type", "message"}}``; streams are named SSE
  events: message_start (input usage, output_tokens 1 as the real API
  sends), content_block_start, ping, content_block_delta..., content_block_stop,
  message_delta (the cumulative output_tokens: a reader must replace, not add),
  message_stop.

``prompt_tokens`` is the whole prompt. With ``cached_tokens`` set, OpenAI
reports it under ``prompt_tokens_details.cached_tokens`` (part of
``prompt_tokens``); Anthropic reports ``input_tokens`` without the cached part
and ``cache_read_input_tokens`` beside it, as the Messages API does. With
``cached_tokens`` None the OpenAI usage has no ``prompt_tokens_details``
(what vLLM and Ollama send).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

# What every mode answers from; FakeProvider.set() builds one from its keywords.
MODES = ("ok", "error_500", "error_429", "stall", "cut", "stream_error", "no_usage", "slow")


@dataclass(frozen=True)
class Behaviour:
    mode: str = "ok"
    text: str = "Hello from the fake provider."
    chunks: int = 5
    prompt_tokens: int = 12
    completion_tokens: int = 7
    cached_tokens: int | None = None
    cut_after: int | None = None  # content chunks before a cut or an error event; None: half of ``chunks`` (>= 1)
    chunk_delay_s: float = 0.05  # "slow": between chunks (a non-streamed answer waits chunks x this)
    stall_s: float | None = None  # "stall": None waits for release() or the client's close
    retry_after_s: float | None = None  # "error_429": a retry-after header when set

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; one of {', '.join(MODES)}")
        if self.chunks < 1:
            raise ValueError("chunks must be >= 1")

    def pieces(self) -> list[str]:
        n, size = self.chunks, len(self.text)
        return [self.text[i * size // n : (i + 1) * size // n] for i in range(n)]

    def cut_point(self) -> int:
        return self.cut_after if self.cut_after is not None else max(1, self.chunks // 2)

    @property
    def reports_usage(self) -> bool:
        return self.mode != "no_usage"


@dataclass
class Stream:
    """A streamed answer as SSE events: ``head`` goes out with the first piece, a cut
    happens after ``cut_point()`` of ``pieces``, ``tail`` ends a complete stream."""

    head: list[bytes]
    pieces: list[bytes]
    tail: list[bytes] = field(default_factory=list)


class Rejection(Exception):
    """A request the provider refuses: status, body and extra headers of the answer."""

    def __init__(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers


class Format(Protocol):
    name: str
    prefix: str  # what base_url adds to the server's root
    completion_path: str
    models_path: str
    request_id_header: str

    def check(self, *, headers: dict[str, str], api_key: str, body: Any) -> None: ...
    def error(self, status: int, message: str, *, kind: str | None = None, code: str | None = None) -> bytes: ...
    def not_found(self, method: str, path: str) -> bytes: ...
    def unknown_model(self, model: str) -> bytes: ...
    def models(self, names: list[str]) -> bytes: ...
    def completion(self, body: dict, behaviour: Behaviour, seq: int) -> bytes: ...
    def stream(self, body: dict, behaviour: Behaviour, seq: int) -> Stream: ...
    def stream_error(self) -> bytes: ...


def sse(data: bytes, event: str | None = None) -> bytes:
    return (b"event: " + event.encode() + b"\n" if event else b"") + b"data: " + data + b"\n\n"


def _messages_problem(body: Any, roles: frozenset[str]) -> str | None:
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in roles:
            return f"messages.{i}.role: Input should be one of {', '.join(sorted(roles))}"
    return None


class OpenAIFormat:
    name = "openai"
    prefix = "/v1"
    completion_path = "/v1/chat/completions"
    models_path = "/v1/models"
    request_id_header = "x-request-id"
    _roles = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
    _kinds = {
        400: "invalid_request_error",
        401: "invalid_request_error",
        404: "invalid_request_error",
        429: "requests",
        500: "server_error",
    }

    def check(self, *, headers: dict[str, str], api_key: str, body: Any) -> None:
        if api_key and headers.get("authorization") != f"Bearer {api_key}":
            raise Rejection(401, self.error(401, "Incorrect API key provided.", code="invalid_api_key"))
        if body is None:
            return
        problem = _messages_problem(body, self._roles)
        if problem is None and body.get("stream_options") is not None and not body.get("stream"):
            problem = "The 'stream_options' parameter is only allowed when 'stream' is enabled."
        if problem:
            raise Rejection(400, self.error(400, problem))

    def error(self, status: int, message: str, *, kind: str | None = None, code: str | None = None) -> bytes:
        return orjson.dumps(
            {
                "error": {
                    "message": message,
                    "type": kind or self._kinds.get(status, "api_error"),
                    "param": None,
                    "code": code,
                }
            }
        )

    def not_found(self, method: str, path: str) -> bytes:
        return self.error(404, f"Invalid URL ({method} {path})")

    def unknown_model(self, model: str) -> bytes:
        return self.error(
            404, f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
        )

    def models(self, names: list[str]) -> bytes:
        return orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "fake-provider"}
                    for name in names
                ],
            }
        )

    def _usage(self, b: Behaviour) -> dict:
        usage: dict[str, Any] = {
            "prompt_tokens": b.prompt_tokens,
            "completion_tokens": b.completion_tokens,
            "total_tokens": b.prompt_tokens + b.completion_tokens,
        }
        if b.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": b.cached_tokens, "audio_tokens": 0}
            usage["completion_tokens_details"] = {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            }
        return usage

    def completion(self, body: dict, behaviour: Behaviour, seq: int) -> bytes:
        answer: dict[str, Any] = {
            "id": f"chatcmpl-fake{seq}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": behaviour.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
        }
        if behaviour.reports_usage:
            answer["usage"] = self._usage(behaviour)
        return orjson.dumps(answer)

    def stream(self, body: dict, behaviour: Behaviour, seq: int) -> Stream:
        with_usage = bool((body.get("stream_options") or {}).get("include_usage")) and behaviour.reports_usage
        base = {
            "id": f"chatcmpl-fake{seq}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
            if with_usage:
                data["usage"] = None
            return sse(orjson.dumps(data))

        head = [chunk({"role": "assistant", "content": "", "refusal": None})]
        pieces = [chunk({"content": piece}) for piece in behaviour.pieces()]
        tail = [chunk({}, "stop")]
        if with_usage:
            tail.append(sse(orjson.dumps({**base, "choices": [], "usage": self._usage(behaviour)})))
        tail.append(b"data: [DONE]\n\n")
        return Stream(head, pieces, tail)

    def stream_error(self) -> bytes:
        """What OpenAI sends when generation fails mid-stream (the openai client raises APIError on it)."""
        return sse(self.error(500, "The server had an error while processing your request."))


class AnthropicFormat:
    name = "anthropic"
    prefix = ""  # Anthropic clients take the root and append /v1/messages
    completion_path = "/v1/messages"
    models_path = "/v1/models"
    request_id_header = "request-id"
    _roles = frozenset({"user", "assistant"})
    _kinds = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_error",
        500: "api_error",
        529: "overloaded_error",
    }

    def check(self, *, headers: dict[str, str], api_key: str, body: Any) -> None:
        if api_key and headers.get("x-api-key") != api_key:
            raise Rejection(401, self.error(401, "invalid x-api-key"))
        if not headers.get("anthropic-version"):
            raise Rejection(400, self.error(400, "anthropic-version: header is required"))
        if body is None:
            return
        problem = _messages_problem(body, self._roles)
        if problem is None and (not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1):
            problem = "max_tokens: Field required"
        if problem:
            raise Rejection(400, self.error(400, problem))

    def error(self, status: int, message: str, *, kind: str | None = None, code: str | None = None) -> bytes:
        return orjson.dumps(
            {"type": "error", "error": {"type": kind or self._kinds.get(status, "api_error"), "message": message}}
        )

    def not_found(self, method: str, path: str) -> bytes:
        return self.error(404, "Not Found")

    def unknown_model(self, model: str) -> bytes:
        return self.error(404, f"model: {model}")

    def models(self, names: list[str]) -> bytes:
        data = [
            {"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"} for name in names
        ]
        return orjson.dumps(
            {
                "data": data,
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        )

    def _usage(self, b: Behaviour, output_tokens: int) -> dict:
        cached = b.cached_tokens or 0
        return {
            "input_tokens": b.prompt_tokens - cached,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": cached,
            "output_tokens": output_tokens,
        }

    def _message(self, body: dict, b: Behaviour, seq: int, content: list, stop: str | None, output: int) -> dict:
        message: dict[str, Any] = {
            "id": f"msg_fake{seq}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
        }
        if b.reports_usage:
            message["usage"] = self._usage(b, output)
        return message

    def completion(self, body: dict, behaviour: Behaviour, seq: int) -> bytes:
        content = [{"type": "text", "text": behaviour.text}]
        return orjson.dumps(self._message(body, behaviour, seq, content, "end_turn", behaviour.completion_tokens))

    def stream(self, body: dict, behaviour: Behaviour, seq: int) -> Stream:
        def event(name: str, data: dict) -> bytes:
            return sse(orjson.dumps({"type": name, **data}), name)

        head = [
            event("message_start", {"message": self._message(body, behaviour, seq, [], None, 1)}),
            event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            event("ping", {}),
        ]
        pieces = [
            event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
            for piece in behaviour.pieces()
        ]
        delta: dict[str, Any] = {"delta": {"stop_reason": "end_turn", "stop_sequence": None}}
        if behaviour.reports_usage:
            delta["usage"] = {"output_tokens": behaviour.completion_tokens}
        tail = [event("content_block_stop", {"index": 0}), event("message_delta", delta), event("message_stop", {})]
        return Stream(head, pieces, tail)

    def stream_error(self) -> bytes:
        """The Messages API's mid-stream error event (e.g. when it is overloaded)."""
        return sse(self.error(529, "Overloaded"), "error")


FORMATS: dict[str, Format] = {"openai": OpenAIFormat(), "anthropic": AnthropicFormat()}
