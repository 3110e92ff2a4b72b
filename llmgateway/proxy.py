"""One client request through the gateway: decide, attempt, fail over, answer, settle.

    decide (reserve the worst case, log) -> attempt 1 -> retryable failure before the first byte?
      -> settle attempt 1 and decide again without it (same transaction) -> attempt 2 ... up to MAX_ATTEMPTS
    -> the answer (whole, or streamed chunk by chunk) -> settle with the usage the provider reported

Every decision made is settled exactly once (``finally``), whatever happens to the client or the call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from agents.protocol import ProtocolError
from llmgateway import conf, ledger, upstream
from llmgateway.adapters import BadResponse, adapter_for
from llmgateway.attempt import Attempt, Outcome, classify_exception, open_call
from llmgateway.chat import ChatRequest
from llmgateway.errors import GatewayError, from_protocol, upstream_failed, upstream_rate_limited
from llmgateway.response import route_headers, send_error, send_json_bytes
from llmgateway.streaming import relay
from llmrouter import gateway, settlement

logger = logging.getLogger(__name__)


class _Context:
    """What one client request carries across its attempts."""

    def __init__(self, chat: ChatRequest, receive: Any, send: Any) -> None:
        self.chat, self.receive, self.send = chat, receive, send
        self.attempts: list[Attempt] = []
        self.deadline = time.monotonic() + float(conf.get("TOTAL_TIMEOUT_S"))
        self.first_byte_s = float(conf.get("FIRST_BYTE_TIMEOUT_S"))
        self.max_attempts = int(conf.get("MAX_ATTEMPTS"))

    def query(self) -> gateway.GatewayQuery:
        first = self.attempts[0].decision.request_id if self.attempts else ""
        return gateway.GatewayQuery(
            prompt_tokens=self.chat.prompt_tokens,
            completion_tokens=self.chat.completion_tokens,
            pin=self.chat.pin,
            tried=frozenset(a.provider_key for a in self.attempts),
            request_id=first,
            attempt=len(self.attempts) + 1,
        )

    def route(self) -> dict[str, Any]:
        c = self.chat
        return gateway.route_kwargs(
            self.query(), task_type=c.task_type, priority=c.priority, max_latency=c.max_latency, interface=c.interface
        )


async def serve(chat: ChatRequest, receive: Any, send: Any) -> None:
    ctx = _Context(chat, receive, send)
    try:
        done = False
        while True:
            previous = ctx.attempts[-1] if ctx.attempts else None
            pending = None
            if previous is not None:
                # Handed to the ledger with the next decision: its batch writes it (or logs why it could not),
                # refusal or not, so it is never queued a second time.
                pending, previous.settled = previous.settlement(chat), True
            try:
                decision = await ledger.decide(ctx.route(), settle=pending)
            except ProtocolError as exc:
                await _refused(ctx, exc)
                return
            att = Attempt(decision=decision, number=len(ctx.attempts) + 1, started=time.perf_counter())
            ctx.attempts.append(att)
            try:
                done = await (_stream(ctx, att) if chat.stream else _whole(ctx, att))
            except asyncio.CancelledError:
                att.interrupt(chat)  # settled (in the finally below) at the worst case, not as a free call
                raise
            finally:
                att.finish()
            if done or not att.retryable or len(ctx.attempts) >= ctx.max_attempts or time.monotonic() >= ctx.deadline:
                break
        if not done:
            await send_error(send, _failure(ctx), headers=route_headers(ctx.attempts[-1]))
    finally:
        _settle_rest(ctx)


def _settle_rest(ctx: _Context) -> None:
    """Queue the settlement of every attempt not settled yet (the last one: after the answer is out, so the client
    never waits; ``ledger.settle`` says when it is written)."""
    for att in ctx.attempts:
        if not att.settled:
            att.settled = True
            ledger.settle(att.settlement(ctx.chat))


async def _refused(ctx: _Context, exc: ProtocolError) -> None:
    """No (further) provider: the decision's refusal, or after failed attempts the last upstream failure."""
    if not ctx.attempts:
        error = from_protocol(exc)
        headers = (
            [(b"x-route-decision-id", str(exc.details["decision_id"]).encode())]
            if exc.details.get("decision_id")
            else []
        )
        await send_error(ctx.send, error, headers=headers)
        return
    failure = _failure(ctx)
    failure.details = {
        **(failure.details or {}),
        "next_candidate": {"code": str(exc.code), "message": exc.message, "excluded": exc.details.get("excluded")},
    }
    await send_error(ctx.send, failure, headers=route_headers(ctx.attempts[-1]))


def _failure(ctx: _Context) -> GatewayError:
    last = ctx.attempts[-1]
    details = {"attempts": [a.summary() for a in ctx.attempts]}
    if last.outcome == Outcome.UPSTREAM_ERROR and not last.retryable:
        status = last.status_code or 502
        client_status = 413 if status == 413 else 400 if status in (400, 404, 409, 422) else 502
        return GatewayError(
            client_status,
            last.error,
            type="invalid_request_error" if client_status < 500 else "upstream_error",
            code="upstream_refused",
            details=details,
            retried=True,  # the provider refused this very request (a wrong key, a bad model): again is no better
        )
    if last.outcome == Outcome.RATE_LIMITED:
        return upstream_rate_limited(last.error, details=details, retry_after_s=last.retry_after_s)
    return upstream_failed(
        f"No provider answered: {last.error}", timeout=last.outcome == Outcome.TIMEOUT, details=details
    )


async def _whole(ctx: _Context, att: Attempt) -> bool:
    """A non-streamed call; True when the client got its answer. Nothing reaches the client before the whole
    answer is in, so any failure so far may fail over."""
    response = await open_call(att, ctx.chat, deadline=ctx.deadline, first_byte_s=ctx.first_byte_s)
    if response is None:
        return False
    att.mark_first_byte()
    try:
        async with asyncio.timeout(max(0.0, ctx.deadline - time.monotonic())):
            content = await response.read()
    except (upstream.UpstreamError, TimeoutError) as exc:
        classify_exception(att, exc)
        return False
    finally:
        response.close()
    try:
        body, usage = adapter_for(att.target.api_format).parse(content, ctx.chat, att.target)
    except BadResponse as exc:
        att.fail(Outcome.BAD_RESPONSE, f"{att.provider_key}: {exc}")
        return False
    if usage is None:
        att.usage, att.usage_source = att.worst_case(ctx.chat), settlement.ESTIMATED
    else:
        att.usage = usage
    att.health = "success"
    await send_json_bytes(ctx.send, 200, body, headers=route_headers(att, cost_nanos=att.cost_nanos()))
    return True


async def _stream(ctx: _Context, att: Attempt) -> bool:
    """A streamed call; True once the client's response has started (no failover after that)."""
    response = await open_call(att, ctx.chat, deadline=ctx.deadline, first_byte_s=ctx.first_byte_s)
    if response is None:
        return False
    chunks = response.chunks()
    try:
        async with asyncio.timeout(max(0.0, min(ctx.first_byte_s, ctx.deadline - time.monotonic()))):
            first = await anext(chunks)
    except StopAsyncIteration:
        response.close()
        att.fail(Outcome.BAD_RESPONSE, f"{att.provider_key} ended its stream before sending anything")
        return False
    except (upstream.UpstreamError, TimeoutError) as exc:
        response.close()
        classify_exception(att, exc)
        return False
    att.mark_first_byte()
    await relay(ctx, att, response, chunks, first)
    return True
