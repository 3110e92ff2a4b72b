"""One pass of the provider health and spend monitor.

``run_monitor_pass()`` is synchronous (ORM and blocking HTTP with short
timeouts): the orchestrator runs it in a worker thread every
``ORCHESTRATOR["MONITOR_INTERVAL_S"]`` seconds and fans the returned events
out to its subscribers; ``manage.py monitor_providers --once`` runs one pass.

Health: every enabled provider with a health URL is fetched (in parallel,
each with a short timeout); a 2xx/3xx answer is a success. A provider turns
unhealthy after LLMROUTER["UNHEALTHY_AFTER_FAILURES"] consecutive failures
and healthy after one success. Spend: each active budget's window status is
logged, as a warning past its threshold, and the first pass past the
threshold in a window emits a budget_warning event.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from agents import protocol
from llmrouter import conf, selectors, services, windows
from llmrouter.models import Budget, Provider

logger = logging.getLogger("llmrouter.monitor")


def check_url(url: str, timeout_s: float) -> tuple[bool, str]:
    """GET the URL: (True, "") for 2xx/3xx, else (False, why)."""
    request = urllib.request.Request(url, headers={"User-Agent": "llmrouter-monitor/1"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - operator-configured URL
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{type(exc).__name__}: {reason}"
    return (True, "") if status < 400 else (False, f"HTTP {status}")


def _check_providers(now: datetime, timeout_s: float, unhealthy_after: int) -> tuple[list[dict], dict[str, Any]]:
    providers = list(Provider.objects.filter(enabled=True).exclude(health_url="").order_by("display_order", "key"))
    if not providers:
        return [], {}
    with ThreadPoolExecutor(max_workers=min(8, len(providers)), thread_name_prefix="provider-check") as pool:
        results = list(pool.map(lambda p: check_url(p.health_url, timeout_s), providers))
    events, summary = [], {}
    for p, (ok, error) in zip(providers, results, strict=True):
        event = services.provider_record_health(
            provider_id=p.pk, ok=ok, error=error, now=now, unhealthy_after=unhealthy_after
        )
        summary[p.key] = {"ok": ok, "error": error}
        if event is not None:
            log = logger.info if event["health"] == Provider.Health.HEALTHY else logger.warning
            log("provider %s is now %s%s", p.key, event["health"], f" ({error})" if error else "")
            events.append(event)
    return events, summary


def _check_budgets(now: datetime) -> tuple[list[dict], list[dict]]:
    events = []
    statuses = []
    for budget in Budget.objects.filter(active=True).order_by("pk"):
        status = selectors.budget_status(budget=budget, now=now)
        statuses.append(status)
        line = (
            f"budget {status['name']}: ${status['spent']:.4f} of ${status['amount']:.2f} "
            f"({status['utilization_pct']}%) this {status['period']} window"
        )
        if not status["warning"]:
            logger.info(line)
            continue
        logger.warning("%s, past the %d%% warning threshold", line, round(budget.warning_threshold * 100))
        window_start = datetime.fromisoformat(status["window_start"])
        if services.budget_mark_warned(budget_id=budget.pk, window_start=window_start):
            events.append(
                {
                    "event": "budget_warning",
                    "budget": status["name"],
                    "period": status["period"],
                    "spent": status["spent"],
                    "amount": status["amount"],
                    "utilization_pct": status["utilization_pct"],
                    "threshold_pct": round(budget.warning_threshold * 100, 2),
                    "exhausted": status["exhausted"],
                    "window_start": status["window_start"],
                }
            )
    return events, statuses


def run_monitor_pass(*, now: datetime | None = None) -> dict[str, Any]:
    """Check provider health and spend once; return {"events": [...], "providers": ..., "budgets": ...}."""
    now = now or windows.utc_now()
    timeout_s = float(conf.get("HEALTH_CHECK_TIMEOUT_S"))
    unhealthy_after = int(conf.get("UNHEALTHY_AFTER_FAILURES"))
    health_events, checked = _check_providers(now, timeout_s, unhealthy_after)
    budget_events, budgets = _check_budgets(now)
    stamp = protocol.utc_timestamp()
    events = [{**e, "timestamp": stamp} for e in health_events + budget_events]
    return {"events": events, "providers": checked, "budgets": budgets, "checked_at": now.astimezone(UTC).isoformat()}
