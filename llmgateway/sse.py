"""Server-Sent Events: an incremental parser for upstream streams and the encoder for ours."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


class SSEParser:
    """Feed bytes as they arrive; get back complete (event name, data) pairs (data lines joined by \\n)."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            # Normalise before splitting; a \r at the very end may be half of a \r\n still to come.
            keep = buf.endswith(b"\r")
            buf = (buf[:-1] if keep else buf).replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if keep else b"")
        events = []
        while True:
            end = buf.find(b"\n\n")
            if end < 0:
                break
            block, buf = buf[:end], buf[end + 2 :]
            event = _parse_block(block)
            if event is not None:
                events.append(event)
        self._buf = buf
        return events

    @property
    def pending(self) -> bool:
        """Whether an incomplete event is buffered (the stream ended in the middle of one)."""
        return bool(self._buf.strip())


def _parse_block(block: bytes) -> tuple[str, bytes] | None:
    name, data = "message", []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value.decode("utf-8", "replace")
    if not data and name == "message":
        return None
    return name, b"\n".join(data)


def encode(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def encode_raw(data: bytes) -> bytes:
    return b"data: " + data + b"\n\n"
