"""``api_format: anthropic``: the Messages API, both ways, streamed or not.

Request: system (and developer) messages become ``system``; text and image-URL parts are translated;
tool results travel as user text (tools themselves are not translated). Usage: ``input_tokens`` plus the
cache reads and writes are the prompt (cache reads are its cached part); ``output_tokens`` is the
completion. In a stream, ``message_start`` carries the input and every ``message_delta`` the output so
far: the latest value replaces the previous one, it is not added to it.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from llmgateway import sse, tokens
from llmgateway.adapters import Usage, answer_object
from llmgateway.chat import ChatRequest
from llmrouter.gateway import Target

VERSION = "2023-06-01"
_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "pause_turn": "stop",
    "refusal": "content_filter",
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _part(part: Any) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        return None
    if part.get("type") == "text" and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    url = (part.get("image_url") or {}).get("url") if isinstance(part.get("image_url"), dict) else None
    if part.get("type") == "image_url" and isinstance(url, str):
        if url.startswith("data:") and ";base64," in url:
            media, data = url[5:].split(";base64,", 1)
            return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
        return {"type": "image", "source": {"type": "url", "url": url}}
    return None


def _content(content: Any) -> Any:
    if isinstance(content, list):
        return [p for p in (_part(x) for x in content) if p is not None]
    return content if isinstance(content, str) else ""


def translate_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_text(m.get("content")))
        elif role in ("tool", "function"):
            out.append({"role": "user", "content": f"[tool result] {_text(m.get('content'))}"})
        else:
            out.append({"role": role, "content": _content(m.get("content"))})
    return "\n\n".join(s for s in system if s), out


def usage_of(raw: Any) -> Usage | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("input_tokens"), int):
        return None
    read = raw.get("cache_read_input_tokens") or 0
    written = raw.get("cache_creation_input_tokens") or 0
    out = raw.get("output_tokens")
    return Usage(raw["input_tokens"] + int(read) + int(written), out if isinstance(out, int) else 0, int(read))


def _chunk(cid: str, model: str, created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class AnthropicAdapter:
    def request(self, target: Target, chat: ChatRequest, api_key: str | None) -> tuple[str, dict[str, str], bytes]:
        system, messages = translate_messages(chat.body["messages"])
        body: dict[str, Any] = {
            "model": target.upstream_model,
            "messages": messages,
            "max_tokens": chat.completion_tokens,
        }
        if system:
            body["system"] = system
        for name in ("temperature", "top_p"):
            if chat.body.get(name) is not None:
                body[name] = chat.body[name]
        stop = chat.body.get("stop")
        if stop:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if chat.stream:
            body["stream"] = True
        headers = {"content-type": "application/json", "anthropic-version": VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        return target.api_base.rstrip("/") + "/v1/messages", headers, orjson.dumps(body)

    def parse(self, content: bytes, chat: ChatRequest, target: Target) -> tuple[bytes, Usage | None]:
        msg = answer_object(content, list_key="content")
        usage = usage_of(msg.get("usage"))
        text = "".join(b.get("text", "") for b in msg["content"] if isinstance(b, dict) and b.get("type") == "text")
        body: dict[str, Any] = {
            "id": f"chatcmpl-{msg.get('id', '')}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": msg.get("model") or target.upstream_model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": _FINISH.get(msg.get("stop_reason") or "", "stop"),
                }
            ],
        }
        if usage is not None:
            body["usage"] = usage.as_openai()
        return orjson.dumps(body), usage

    def stream(self, chat: ChatRequest, target: Target) -> AnthropicStream:
        return AnthropicStream(chat.include_usage, target.upstream_model)


class AnthropicStream:
    __slots__ = ("include_usage", "model", "cid", "created", "usage", "done", "error", "text_bytes", "finish")

    def __init__(self, include_usage: bool, model: str) -> None:
        self.include_usage, self.model = include_usage, model
        self.cid, self.created = "chatcmpl-", int(time.time())
        self.usage: Usage | None = None
        self.done, self.error, self.text_bytes, self.finish = False, "", 0, "stop"

    def feed(self, event: str, data: bytes) -> list[bytes]:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            self.error = "the provider sent an event that is not JSON"
            return []
        kind = obj.get("type", event) if isinstance(obj, dict) else event
        handler = _HANDLERS.get(kind)
        return handler(self, obj) if handler is not None else []

    def _start(self, obj: dict[str, Any]) -> list[bytes]:
        msg = obj.get("message") or {}
        self.cid = f"chatcmpl-{msg.get('id', '')}"
        self.model = msg.get("model") or self.model
        self.usage = usage_of(msg.get("usage"))
        return [sse.encode(_chunk(self.cid, self.model, self.created, {"role": "assistant", "content": ""}))]

    def _delta(self, obj: dict[str, Any]) -> list[bytes]:
        delta = obj.get("delta") or {}
        if delta.get("type") != "text_delta" or not isinstance(delta.get("text"), str):
            return []
        self.text_bytes += len(delta["text"].encode())
        return [sse.encode(_chunk(self.cid, self.model, self.created, {"content": delta["text"]}))]

    def _message_delta(self, obj: dict[str, Any]) -> list[bytes]:
        out = (obj.get("usage") or {}).get("output_tokens")
        if isinstance(out, int):
            # Cumulative: the latest count replaces the one before.
            self.usage = Usage(self.usage.prompt_tokens, out, self.usage.cached_tokens) if self.usage else Usage(0, out)
        reason = (obj.get("delta") or {}).get("stop_reason")
        if reason:
            self.finish = _FINISH.get(reason, "stop")
        return []

    def _stop(self, obj: dict[str, Any]) -> list[bytes]:
        self.done = True
        out = [sse.encode(_chunk(self.cid, self.model, self.created, {}, self.finish))]
        if self.include_usage and self.usage is not None:
            out.append(
                sse.encode(
                    {
                        "id": self.cid,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": self.usage.as_openai(),
                    }
                )
            )
        out.append(sse.DONE)
        return out

    def _error(self, obj: dict[str, Any]) -> list[bytes]:
        err = obj.get("error") or {}
        self.error = str(err.get("message") if isinstance(err, dict) else err) or "the provider reported an error"
        return []

    def used(self, prompt_estimate: int) -> Usage:
        prompt = self.usage.prompt_tokens if self.usage and self.usage.prompt_tokens else prompt_estimate
        return Usage(prompt, tokens.estimate_text_tokens(self.text_bytes))


_HANDLERS = {
    "message_start": AnthropicStream._start,
    "content_block_delta": AnthropicStream._delta,
    "message_delta": AnthropicStream._message_delta,
    "message_stop": AnthropicStream._stop,
    "error": AnthropicStream._error,
}

ADAPTER = AnthropicAdapter()
