"""GET /health: the seed's shape plus what an operator needs to see.

    {"status": "healthy" | "degraded", "agents": <connected instances>,
     "timestamp": ..., "interfaces": {...},
     "llm_router": {"daily_budget", "current_spend", "remaining", "utilization_pct",
                    "budgets": [...], "providers": [...]},
     "orchestrator": {"reachable": bool, "agents_by_type": {...} | "detail": ...},
     "problems": [...]}

The orchestrator is asked for its status over its client socket with a short
timeout; when it does not answer, ``agents`` is 0 and ``orchestrator`` says
why. Nothing secret (URLs, paths, tokens) is included. The HTTP status is 200
either way: ``status`` carries the verdict, so a dashboard can still read the
details of a degraded system.
"""
from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from agents import protocol
from llmrouter import conf, selectors


async def _orchestrator_status(timeout_s: float) -> dict[str, Any]:
    if importlib.util.find_spec("agents.client") is None:
        return {"reachable": False, "detail": "client library not installed"}
    from agents.client import AsyncClient

    client = None
    try:
        async with asyncio.timeout(timeout_s):
            client = await AsyncClient.connect()
            frame = await client.request("orchestrator", "status", timeout_ms=int(timeout_s * 1000))
    except TimeoutError:
        return {"reachable": False, "detail": f"no answer within {timeout_s}s"}
    except (OSError, ConnectionError) as exc:
        return {"reachable": False, "detail": f"cannot connect ({type(exc).__name__})"}
    except Exception as exc:  # noqa: BLE001 - a health probe reports, never raises
        return {"reachable": False, "detail": f"status request failed ({type(exc).__name__})"}
    finally:
        if client is not None:
            try:
                await client.close()
            except Exception:  # noqa: BLE001
                pass
    if frame.get("status") != "success":
        return {"reachable": True, "detail": "status request answered with an error", "agents_by_type": {}}
    types = (frame.get("data") or {}).get("types") or {}
    by_type = {name: len(info.get("instances") or []) for name, info in types.items() if isinstance(info, dict)}
    return {"reachable": True, "agents_by_type": by_type}


async def _redis_up(timeout_s: float) -> bool:
    import redis.asyncio as aioredis

    client = aioredis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
    try:
        async with asyncio.timeout(timeout_s):
            return bool(await client.ping())
    except Exception:  # noqa: BLE001 - down is an answer
        return False
    finally:
        await client.aclose()


@require_safe
async def health(request: HttpRequest) -> JsonResponse:
    timeout_s = float(conf.get("HEALTH_ORCHESTRATOR_TIMEOUT_S"))
    orchestrator, redis_ok, router = await asyncio.gather(
        _orchestrator_status(timeout_s), _redis_up(timeout_s), sync_to_async(selectors.router_health)())
    problems = list(router["problems"])
    if not orchestrator["reachable"]:
        problems.append(f"orchestrator unreachable: {orchestrator['detail']}")
    if not redis_ok:
        problems.append("redis unreachable (no fallback transport)")
    agents = sum(orchestrator.get("agents_by_type", {}).values())
    body = {
        "status": "degraded" if problems else "healthy",
        "agents": agents,
        "timestamp": protocol.utc_timestamp(),
        "interfaces": {
            "http": True,
            "websocket": True,
            "socket": orchestrator["reachable"],
            "redis": redis_ok,
        },
        "llm_router": router["llm_router"],
        "orchestrator": orchestrator,
        "problems": problems,
    }
    return JsonResponse(body)
