"""The committed part of a streamed answer: relay the provider's stream chunk by chunk until it ends.

From the first byte on there is no failover: a stream that ends without the provider's end marker (cut,
stalled past the read timeout, an error event) ends with an OpenAI-style error event and no ``[DONE]``,
so the client can tell the answer is incomplete; the attempt is logged ``truncated`` and settled at the
reservation's estimate (``usage_source: estimated``). A client that disconnects stops the relay, closes
the upstream request and pays for what it got (prompt + the text relayed so far, estimated).
Each chunk is sent only once the client's socket has room (``FlowControl``): the provider's stream is
read no faster than the client reads ours.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from llmgateway import sse, upstream
from llmgateway.adapters import adapter_for
from llmgateway.attempt import Attempt, Outcome
from llmgateway.backpressure import FlowControl
from llmgateway.response import route_headers
from llmrouter import settlement

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


async def relay(
    ctx: Any, att: Attempt, response: upstream.Response, chunks: AsyncIterator[bytes], first: bytes
) -> None:
    send = ctx.send
    await send({"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *route_headers(att)]})
    flow = FlowControl(send)
    flow.start()
    reader = adapter_for(att.target.api_format).stream(ctx.chat, att.target)
    pump = asyncio.ensure_future(_pump(send, flow, reader, chunks, first, ctx.deadline))
    gone = asyncio.ensure_future(_disconnected(ctx.receive))
    try:
        await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not pump.done():
            pump.cancel()  # the client left (or we are cancelled): stop reading upstream
        gone.cancel()
        await asyncio.gather(pump, gone, return_exceptions=True)
        response.close()
    client_left = gone.done() and not gone.cancelled() and not pump_finished_first(pump, gone)
    _conclude(ctx, att, reader, pump, client_left)
    if client_left:
        return
    flow.stop()
    tail = b"" if att.outcome == Outcome.OK else sse.encode(_truncation_error(att))
    await send({"type": "http.response.body", "body": tail, "more_body": False})


def pump_finished_first(pump: asyncio.Future, gone: asyncio.Future) -> bool:
    return pump.done() and not pump.cancelled()


async def _disconnected(receive: Any) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _pump(
    send: Any, flow: FlowControl, reader: Any, chunks: AsyncIterator[bytes], first: bytes, deadline: float
) -> str:
    """Relay until the provider's end marker or the end of its stream; returns why it stopped ("" when complete)."""
    parser = sse.SSEParser()
    chunk = first
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            while True:
                out: list[bytes] = []
                for event, data in parser.feed(chunk):
                    out += reader.feed(event, data)
                if out:
                    await flow.wait()
                    await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
                if reader.done or reader.error:
                    break
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
    except upstream.Stalled:
        return "the provider's stream stalled past the read timeout"
    except TimeoutError:
        return "the call went past the gateway's total timeout"
    except upstream.UpstreamError as exc:
        return f"the provider's stream broke: {exc}"
    if reader.error:
        return f"the provider reported an error mid-stream: {reader.error}"
    if not reader.done:
        return "the provider's stream ended before the answer was complete"
    return ""


def _conclude(ctx: Any, att: Attempt, reader: Any, pump: asyncio.Future, client_left: bool) -> None:
    chat = ctx.chat
    if client_left:
        att.outcome, att.health = Outcome.CLIENT_CLOSED, "neutral"
        att.usage, att.usage_source = reader.used(chat.prompt_tokens), settlement.ESTIMATED
        att.error = "the client disconnected mid-stream; the upstream request was closed"
        return
    why = pump.result() if not pump.cancelled() and pump.exception() is None else "relay failed"
    if why:
        att.outcome, att.error, att.health = Outcome.TRUNCATED, why, "failure"
        att.usage, att.usage_source = att.worst_case(chat), settlement.ESTIMATED
    elif reader.usage is None:
        att.usage, att.usage_source = att.worst_case(chat), settlement.ESTIMATED
    else:
        att.usage, att.health = reader.usage, "success"


def _truncation_error(att: Attempt) -> dict[str, Any]:
    return {
        "error": {
            "message": f"The answer is incomplete: {att.error}",
            "type": "upstream_error",
            "code": "stream_truncated",
            "param": None,
            "details": {"provider": att.provider_key, "decision_id": att.decision.decision_id},
        }
    }
