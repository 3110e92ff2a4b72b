"""One call to one provider: open it, classify what went wrong, and turn it into a settlement.

An attempt fails over (``retryable``) on a connection error, a timeout before the first byte, a 429 or a
5xx, and on an unreadable answer; a provider's other 4xx goes back to the client. ``health`` feeds the
circuit breaker: failures are the provider's fault, "neutral" outcomes (a 4xx, a client that left) are not.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import orjson

from llmgateway import ttfb, upstream
from llmgateway.adapters import Usage, adapter_for
from llmgateway.chat import ChatRequest
from llmrouter import settlement
from llmrouter.models import RouteAttempt
from llmrouter.services import RouteResult

Outcome = RouteAttempt.Outcome
MAX_ERROR_BODY = 64 * 1024


@dataclass(slots=True)
class Attempt:
    decision: RouteResult
    number: int
    started: float
    outcome: str = Outcome.OK
    status_code: int | None = None
    error: str = ""
    ttfb_ms: float | None = None
    total_ms: float = 0.0
    usage: Usage | None = None
    usage_source: str = settlement.REPORTED
    health: str = "neutral"
    retryable: bool = False
    retry_after_s: float | None = None
    settled: bool = False

    @property
    def target(self):  # noqa: ANN201 - llmrouter.gateway.Target
        return self.decision.target

    @property
    def provider_key(self) -> str:
        return self.decision.provider_key

    def fail(self, outcome: str, error: str, *, retryable: bool = True, health: str = "failure") -> None:
        self.outcome, self.error, self.retryable, self.health = outcome, error, retryable, health
        self.usage_source = settlement.NONE  # nothing was generated

    def interrupt(self, chat: ChatRequest) -> None:
        """The call was cancelled before it came to an end of its own (the server stopping): whatever the provider
        generated is unknown, so it is settled at the reservation's worst case, marked estimated."""
        if self.usage is not None or self.usage_source != settlement.REPORTED:
            return  # it had concluded (an answer, a failure) before the cancellation reached it
        self.outcome, self.health, self.retryable = Outcome.INTERRUPTED, "neutral", False
        self.error = "interrupted before the call finished (the gateway was stopping)"
        self.usage, self.usage_source = self.worst_case(chat), settlement.ESTIMATED

    def mark_first_byte(self) -> None:
        self.ttfb_ms = (time.perf_counter() - self.started) * 1000
        ttfb.record(self.provider_key, self.ttfb_ms)

    def finish(self) -> None:
        self.total_ms = (time.perf_counter() - self.started) * 1000

    def worst_case(self, chat: ChatRequest) -> Usage:
        """The usage the reservation assumed: settling it charges exactly what was reserved."""
        return Usage(chat.prompt_tokens, chat.completion_tokens)

    def cost_nanos(self) -> int:
        usage = self.usage or Usage()
        return settlement.usage_cost_nanos(
            prices=self.target.prices,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
        )

    def settlement(self, chat: ChatRequest) -> settlement.GatewaySettlement:
        d, usage = self.decision, self.usage or Usage()
        if self.usage_source == settlement.NONE:
            usage = Usage()
        return settlement.GatewaySettlement(
            route_pk=d.route_pk,
            decision_id=d.decision_id,
            request_id=d.request_id,
            attempt=self.number,
            provider_pk=d.provider_pk,
            provider_key=d.provider_key,
            reserved_nanos=d.estimated_cost_nanos,
            reserved_at=d.created_at,
            prices=self.target.prices,
            outcome=self.outcome,
            usage_source=self.usage_source,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            cached_tokens=usage.cached_tokens,
            status_code=self.status_code,
            error=self.error,
            ttfb_ms=self.ttfb_ms,
            total_ms=self.total_ms,
            stream=chat.stream,
            health=self.health,
            probe=self.target.probe,
            breaker_dirty=self.target.breaker_dirty,
            observed_ttfb_ms=ttfb.due(d.provider_key),
        )

    def summary(self) -> dict:
        return {
            "attempt": self.number,
            "provider": self.provider_key,
            "decision_id": self.decision.decision_id,
            "outcome": self.outcome,
            "status": self.status_code,
            "error": self.error,
        }


def _provider_message(content: bytes) -> str:
    try:
        obj = orjson.loads(content)
        err = obj.get("error") if isinstance(obj, dict) else None
        message = err.get("message") if isinstance(err, dict) else err
        if isinstance(message, str) and message:
            return message[:500]
    except orjson.JSONDecodeError:
        pass
    return content[:200].decode("utf-8", "replace") or "(empty body)"


def _retry_after(response: upstream.Response) -> float | None:
    try:
        return float(response.header("retry-after") or "")
    except ValueError:
        return None


def classify_exception(att: Attempt, exc: BaseException) -> None:
    """An upstream.UpstreamError or the caller's TimeoutError, as the attempt's outcome."""
    if isinstance(exc, upstream.ConnectFailed):
        att.fail(Outcome.CONNECT_ERROR, str(exc))
    elif isinstance(exc, TimeoutError):  # the first-byte or total timeout, or upstream.Stalled
        att.fail(
            Outcome.TIMEOUT,
            "no answer before the first-byte timeout" if att.ttfb_ms is None else "the answer stalled (read timeout)",
        )
    else:
        att.fail(Outcome.CONNECT_ERROR, f"connection failed: {exc}")


async def classify_status(att: Attempt, response: upstream.Response) -> None:
    """A non-2xx answer: read (a bounded part of) its body for the provider's message, and classify."""
    content = b""
    try:
        async for chunk in response.chunks():
            content += chunk
            if len(content) > MAX_ERROR_BODY:
                break
    except upstream.UpstreamError:
        pass
    status = att.status_code = response.status
    message = f"HTTP {status} from {att.provider_key}: {_provider_message(content)}"
    if status == 429:
        att.fail(Outcome.RATE_LIMITED, message)
        att.retry_after_s = _retry_after(response)
    elif status >= 500:
        att.fail(Outcome.UPSTREAM_ERROR, message)
    else:  # the provider refused this request: another one would most likely refuse it too
        att.fail(Outcome.UPSTREAM_ERROR, message, retryable=False, health="neutral")


async def open_call(
    att: Attempt, chat: ChatRequest, *, deadline: float, first_byte_s: float
) -> upstream.Response | None:
    """Send the request and wait for the answer's headers; None (and ``att`` says why) unless it is 2xx."""
    target = att.target
    # The provider's key, read per call and never stored: its variable's name is the route's data, and a key
    # rotated in the environment takes effect at once (why it is not in settings.py: orchestrator_common/env.py).
    api_key = os.environ.get(target.api_key_env) if target.api_key_env else None
    url, headers, content = adapter_for(target.api_format).request(target, chat, api_key)
    try:
        async with asyncio.timeout(max(0.0, min(first_byte_s, deadline - time.monotonic()))):
            response = await upstream.post(url, headers, content)
    except (upstream.UpstreamError, TimeoutError) as exc:
        classify_exception(att, exc)
        return None
    if response.status // 100 == 2:
        att.status_code = response.status
        return response
    try:
        await classify_status(att, response)
    finally:
        response.close()
    return None
