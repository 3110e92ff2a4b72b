"""One thin adapter per ``api_format``: build the upstream request, read its answer in OpenAI's shape.

An adapter has ``request(target, chat, api_key) -> (url, headers, body bytes)``, ``parse(content) ->
(client body bytes, Usage or None)`` for a whole answer, and ``stream(chat) -> a StreamReader`` whose
``feed(event, data)`` turns each upstream SSE event into the bytes to pass on (OpenAI chunk format).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from llmgateway.chat import ChatRequest
from llmrouter.gateway import Target


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # part of prompt_tokens

    def as_openai(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if self.cached_tokens:
            body["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        return body


class BadResponse(Exception):
    """The provider answered 2xx with something the adapter cannot read."""


def answer_object(content: bytes, *, list_key: str) -> dict[str, Any]:
    """A whole 2xx answer as a JSON object holding a list at ``list_key`` ("choices", "content"), or BadResponse."""
    try:
        obj = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise BadResponse(f"the provider's answer is not JSON: {exc}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get(list_key), list):
        raise BadResponse(f"the provider's answer has no '{list_key}'")
    return obj


class StreamReader(Protocol):
    usage: Usage | None
    done: bool  # the upstream said the answer is complete
    error: str  # the upstream reported an error mid-stream
    text_bytes: int  # generated text seen so far

    def feed(self, event: str, data: bytes) -> list[bytes]: ...


class Adapter(Protocol):
    def request(self, target: Target, chat: ChatRequest, api_key: str | None) -> tuple[str, dict[str, str], bytes]: ...

    def parse(self, content: bytes, chat: ChatRequest, target: Target) -> tuple[bytes, Usage | None]: ...

    def stream(self, chat: ChatRequest, target: Target) -> StreamReader: ...


def adapter_for(api_format: str) -> Adapter:
    from llmgateway.adapters import anthropic, openai

    return anthropic.ADAPTER if api_format == "anthropic" else openai.ADAPTER
