"""``api_format: openai``: OpenAI, vLLM, Ollama, llama.cpp server, Gemini's OpenAI-compatible endpoint.

The body goes upstream as the client sent it, with the provider's model name, ``max_tokens`` when the
client gave none (the reservation's worst case must bound the answer) and, for streams, ``stream_options.
include_usage`` always on (the settlement needs the usage). Answers come back byte for byte; a usage-only
chunk the client did not ask for is dropped.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmgateway import sse, tokens
from llmgateway.adapters import Usage, answer_object
from llmgateway.chat import ChatRequest
from llmrouter.gateway import Target


def usage_of(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(max(prompt, 0), max(completion, 0), cached if isinstance(cached, int) and cached > 0 else 0)


class OpenAIAdapter:
    def request(self, target: Target, chat: ChatRequest, api_key: str | None) -> tuple[str, dict[str, str], bytes]:
        body = dict(chat.body)
        body["model"] = target.upstream_model
        if not chat.max_tokens_given:
            body["max_tokens"] = chat.completion_tokens
        if chat.stream:
            body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if chat.stream else "application/json",
        }
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
        return target.api_base.rstrip("/") + "/chat/completions", headers, orjson.dumps(body)

    def parse(self, content: bytes, chat: ChatRequest, target: Target) -> tuple[bytes, Usage | None]:
        obj = answer_object(content, list_key="choices")
        return content, usage_of(obj.get("usage"))

    def stream(self, chat: ChatRequest, target: Target) -> OpenAIStream:
        return OpenAIStream(chat.include_usage)


class OpenAIStream:
    __slots__ = ("include_usage", "usage", "done", "error", "text_bytes")

    def __init__(self, include_usage: bool) -> None:
        self.include_usage = include_usage
        self.usage: Usage | None = None
        self.done = False
        self.error = ""
        self.text_bytes = 0

    def feed(self, event: str, data: bytes) -> list[bytes]:
        if data == b"[DONE]":
            self.done = True
            return [sse.DONE]
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.error = "the provider sent a chunk that is not JSON"
            return []
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk:
            self.error = str(
                (chunk.get("error") or {}).get("message")
                if isinstance(chunk.get("error"), dict)
                else chunk.get("error")
            )
            return []
        usage = usage_of(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            delta = choice.get("delta") if isinstance(choice, dict) else None
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                self.text_bytes += len(delta["content"].encode())
        if usage is not None and not choices and not self.include_usage:
            return []  # the usage chunk we asked for, not the client
        return [sse.encode_raw(data)]

    def used(self, prompt_estimate: int) -> Usage:
        return Usage(prompt_estimate, tokens.estimate_text_tokens(self.text_bytes))


ADAPTER = OpenAIAdapter()
