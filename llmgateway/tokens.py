"""The prompt's token estimate, with no tokenizer download at run time.

``ceil(utf8_bytes / 3)`` for the text of every message plus 4 tokens per
message and 3 for the reply's priming (OpenAI's documented per-message
overhead). English averages about 4 characters a token and code about 3, and
CJK text is 3 UTF-8 bytes a character at about one token each, so the
estimate errs high: the reservation it feeds is the worst case the request
may cost, and the settlement corrects it with the provider's own count.
"""

from __future__ import annotations

import math
from typing import Any

PER_MESSAGE = 4
PRIMING = 3
BYTES_PER_TOKEN = 3


def _text_bytes(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass"))
    if isinstance(value, list):
        return sum(_text_bytes(v) for v in value)
    if isinstance(value, dict):
        # Content parts ({"type": "text", "text": ...}), tool calls and their arguments: all of it is sent.
        return sum(_text_bytes(v) for k, v in value.items() if k != "type")
    return 0


def estimate_prompt_tokens(messages: list[dict[str, Any]], *, extra: Any = None) -> int:
    """Tokens the prompt will probably cost (``extra``: tools and the like, counted as text too)."""
    size = sum(
        _text_bytes(m.get("content")) + _text_bytes(m.get("name")) + _text_bytes(m.get("tool_calls")) for m in messages
    )
    size += _text_bytes(extra)
    return math.ceil(size / BYTES_PER_TOKEN) + PER_MESSAGE * len(messages) + PRIMING


def estimate_text_tokens(text_bytes: int) -> int:
    """Tokens of generated text seen so far (a client that left mid-stream pays for what it got)."""
    return math.ceil(text_bytes / BYTES_PER_TOKEN)
