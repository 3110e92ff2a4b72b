"""A /v1/chat/completions request: read, checked and reduced to what the decision and the adapters need.

Every refusal here happens before routing: nothing is reserved or logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents import protocol
from agents.protocol import ProtocolError
from llmgateway import conf, tokens
from llmgateway.errors import GatewayError, from_protocol, invalid
from llmrouter import validation
from llmrouter.models import AUTO

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
CONTENT_REQUIRED = frozenset({"system", "developer", "user", "tool"})
# The routing hints a caller may put in the body's "route" object (unknown ones are refused).
ROUTE_FIELDS = frozenset({"task_type", "priority", "max_latency", "interface"})
MAX_TOKENS_LIMIT = 10_000_000


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]  # what the client sent, less "route" (the adapters build the upstream body from it)
    model: str  # "auto" or a provider key
    stream: bool
    include_usage: bool  # the client asked for the usage chunk (it is always asked upstream)
    prompt_tokens: int  # the estimate
    completion_tokens: int  # max_tokens, or the configured default: the worst case reserved
    max_tokens_given: bool
    task_type: str = ""
    priority: str = "medium"
    max_latency: float = 0.0
    interface: str = "gateway"

    @property
    def pin(self) -> str:
        return "" if self.model == AUTO else self.model


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Raise GatewayError (400) for anything wrong with the body."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(f"The body is not UTF-8: {exc.reason} at byte {exc.start}", code="invalid_encoding") from None
    try:
        body = protocol.decode(raw, what="The body")
    except ProtocolError as exc:
        raise from_protocol(exc) from None
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise invalid("'model' is required: \"auto\" or a provider key from GET /v1/models", param="model")
    messages = _messages(body.get("messages"))
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid("'stream' must be true or false", param="stream")
    if body.get("n", 1) != 1:
        raise invalid("Only n=1 is supported", param="n", code="unsupported_value")
    given, completion = _max_tokens(body)
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise invalid("'stream_options' must be an object", param="stream_options")
    route = _route(body.pop("route", None))
    prompt = tokens.estimate_prompt_tokens(messages, extra=[body.get("tools"), body.get("functions")])
    return ChatRequest(
        body=body,
        model=model.strip(),
        stream=stream,
        include_usage=bool((stream_options or {}).get("include_usage")),
        prompt_tokens=prompt,
        completion_tokens=completion,
        max_tokens_given=given,
        **route,
    )


def _messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise invalid("'messages' must be a non-empty list of messages", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise invalid(f"messages[{i}] must be an object", param=f"messages[{i}]")
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise invalid(f"messages[{i}].role must be one of {', '.join(sorted(ROLES))}", param=f"messages[{i}].role")
        content = m.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise invalid(f"messages[{i}].content must be a string or a list of parts", param=f"messages[{i}].content")
        # As OpenAI's API: only an assistant message that calls a tool (or the old function) may go without content;
        # forwarded, the provider would refuse it after a reservation was made for nothing.
        if content is None and role in CONTENT_REQUIRED:
            raise invalid(f"messages[{i}].content is required in a {role} message", param=f"messages[{i}].content")
    return messages


def _max_tokens(body: dict[str, Any]) -> tuple[bool, int]:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TOKENS_LIMIT:
            raise invalid(f"'{name}' must be an integer from 1 to {MAX_TOKENS_LIMIT}", param=name)
        return True, value
    return False, int(conf.get("DEFAULT_MAX_TOKENS"))


def _route(route: Any) -> dict[str, Any]:
    if route is None:
        return {}
    if not isinstance(route, dict):
        raise invalid("'route' must be an object", param="route")
    unknown = sorted(set(route) - ROUTE_FIELDS)
    if unknown:
        raise invalid(
            f"Unknown route field(s) {', '.join(unknown)}; known: {', '.join(sorted(ROUTE_FIELDS))}",
            param=f"route.{unknown[0]}",
            code="unknown_parameter",
        )
    try:
        parsed = validation.parse_route_request({**route, "token_count": 0}, default_interface="gateway")
    except ProtocolError as exc:
        error: GatewayError = from_protocol(exc)
        error.param = f"route.{error.param}" if error.param else "route"
        raise error from None
    return {k: parsed[k] for k in ("task_type", "priority", "max_latency", "interface")}
