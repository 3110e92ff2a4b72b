"""GET /health: the seed's shape plus what an operator needs to see, from state kept fresh in the background.

    {"status": "healthy" | "degraded", "agents": <connected instances>,
     "timestamp": ..., "interfaces": {...},
     "llm_router": {"daily_budget", "current_spend", "remaining", "utilization_pct",
                    "budgets": [...], "providers": [...]},
     "orchestrator": {"reachable": bool, "agents_by_type": {...} | "detail": ...},
     "problems": [...]}

A check asks the orchestrator for its status (over the web process's pooled
connections, with a short timeout), pings Redis and reads the budgets and
providers: far too much work to do per request (146 requests/s, and routing
slowed to 200 ms under that load). So one refresher task per event loop runs
the check every ``WEB["HEALTH_REFRESH_S"]`` (1 s) while someone reads it, and
a request is answered from the latest result (``timestamp`` says when it was
taken): never older than about a second while the refresher runs. The
refresher stops after ``IDLE_STOP_S`` without readers; the next reader starts
it again and, when the state is stale, waits for one fresh check (shared by
every reader that arrives meanwhile).

``health_snapshot()`` is the one way to read this state (the /health fast
path, its Django view, the front page). Nothing secret (URLs, paths, tokens)
is included. The HTTP status is 200 either way: ``status`` carries the
verdict, so a dashboard can still read the details of a degraded system.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from agents import protocol
from llmrouter import conf, selectors

logger = logging.getLogger(__name__)

PATH = "/health"
IDLE_STOP_S = 30.0


# --- one check ------------------------------------------------------------------------------------


async def _orchestrator_status(timeout_s: float) -> dict[str, Any]:
    from orchestrator_site.web.gateway import gateway

    try:
        async with asyncio.timeout(timeout_s):
            frame = await gateway.request("orchestrator", "status", timeout_ms=int(timeout_s * 1000))
    except TimeoutError:
        return {"reachable": False, "detail": f"no answer within {timeout_s}s"}
    except Exception as exc:  # noqa: BLE001 - a health probe reports, never raises
        return {"reachable": False, "detail": f"status request failed ({type(exc).__name__})"}
    if frame.get("status") != "success":
        error = frame.get("error") or {}
        if error.get("code") == protocol.ErrorCode.AGENT_UNAVAILABLE:  # the gateway could not connect
            reason = (error.get("details") or {}).get("reason", "")
            return {"reachable": False, "detail": f"cannot connect ({reason})" if reason else "cannot connect"}
        if error.get("code") == protocol.ErrorCode.TIMEOUT:
            return {"reachable": False, "detail": f"no answer within {timeout_s}s"}
        return {"reachable": True, "detail": "status request answered with an error", "agents_by_type": {}}
    types = (frame.get("data") or {}).get("types") or {}
    by_type = {name: len(info.get("instances") or []) for name, info in types.items() if isinstance(info, dict)}
    return {"reachable": True, "agents_by_type": by_type}


async def _redis_up(client: Any, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s):
            return bool(await client.ping())
    except Exception:  # noqa: BLE001 - down is an answer
        return False


async def health_check(redis_client: Any) -> dict[str, Any]:
    """One full check, now: the /health body."""
    timeout_s = float(conf.get("HEALTH_ORCHESTRATOR_TIMEOUT_S"))
    orchestrator, redis_ok, router = await asyncio.gather(
        _orchestrator_status(timeout_s), _redis_up(redis_client, timeout_s), sync_to_async(selectors.router_health)()
    )
    problems = list(router["problems"])
    if not orchestrator["reachable"]:
        problems.append(f"orchestrator unreachable: {orchestrator['detail']}")
    if not redis_ok:
        problems.append("redis unreachable (no fallback transport)")
    return {
        "status": "degraded" if problems else "healthy",
        "agents": sum(orchestrator.get("agents_by_type", {}).values()),
        "timestamp": protocol.utc_timestamp(),
        "interfaces": {"http": True, "websocket": True, "socket": orchestrator["reachable"], "redis": redis_ok},
        "llm_router": router["llm_router"],
        "orchestrator": orchestrator,
        "problems": problems,
    }


# --- the state kept fresh ---------------------------------------------------------------------------


class HealthState:
    """The latest check of one event loop, its encoded body, and the refresher that renews it."""

    def __init__(self) -> None:
        self._loop: weakref.ref[asyncio.AbstractEventLoop] | None = None
        self._reset()

    def _reset(self) -> None:
        self.body: dict[str, Any] | None = None
        self.encoded = b""
        self.taken_at = 0.0  # loop time of the latest check
        self.checks = 0
        self._last_read = 0.0
        self._refresher: asyncio.Task[None] | None = None
        self._inflight: asyncio.Future[None] | None = None
        self._redis: Any = None

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop() is not loop:
            # A new loop (tests run one per test): the old loop's state, task and client are unusable.
            self._reset()
            self._loop = weakref.ref(loop)
        return loop

    async def read(self) -> tuple[dict[str, Any], bytes]:
        loop = self._bind()
        now = loop.time()
        self._last_read = now
        refresh_s = float(settings.WEB["HEALTH_REFRESH_S"])
        if self._refresher is None or self._refresher.done():
            self._refresher = loop.create_task(self._refresh_loop(refresh_s), name="health-refresher")
        if self.body is None or now - self.taken_at > 2 * refresh_s:
            await self._check_once()
        assert self.body is not None
        return self.body, self.encoded

    async def _check_once(self) -> None:
        """One check, shared by every caller that arrives while it runs."""
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._check())
        await asyncio.shield(self._inflight)

    async def _check(self) -> None:
        if self._redis is None:
            import redis.asyncio as aioredis

            timeout_s = float(conf.get("HEALTH_ORCHESTRATOR_TIMEOUT_S"))
            self._redis = aioredis.from_url(
                settings.REDIS_URL, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
            )
        body = await health_check(self._redis)
        self.body, self.encoded = body, orjson.dumps(body)
        self.taken_at = asyncio.get_running_loop().time()
        self.checks += 1

    async def _refresh_loop(self, refresh_s: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            while loop.time() - self._last_read < IDLE_STOP_S:
                wait = self.taken_at + refresh_s - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    await self._check_once()
                except Exception:  # a failed check must not stop the refresher; the next one may work
                    logger.exception("health check failed")
                    await asyncio.sleep(refresh_s)
        finally:
            client, self._redis = self._redis, None
            if client is not None:
                await client.aclose()


_state = HealthState()


async def health_snapshot() -> dict[str, Any]:
    """The /health body, at most about ``WEB["HEALTH_REFRESH_S"]`` old (the one reader of this state)."""
    body, _ = await _state.read()
    return body


# --- HTTP ---------------------------------------------------------------------------------------------


async def handle_health(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """GET/HEAD /health without Django: the encoded latest body as it is."""
    _, encoded = await _state.read()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(encoded)).encode()),
        (b"cache-control", b"no-store"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else encoded})


@require_safe
async def health(request: HttpRequest) -> HttpResponse:
    """The same answer through Django (the test client, a deployment without the fast paths)."""
    _, encoded = await _state.read()
    return HttpResponse(encoded, content_type="application/json")


def register_fast_paths(dispatcher: Any) -> None:
    dispatcher.register(PATH, handle_health, methods=("GET", "HEAD"))
