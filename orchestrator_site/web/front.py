"""GET /: the front page. What is running, today's spend against the budget, provider
health, and a link to every surface (admin, dashboard, live agents, API docs, /health,
/metrics).

Public, like /health: it shows exactly what /health already tells anyone (no URLs,
paths or secrets), read from /health's own state (health_snapshot) so the two never disagree
and the page costs no check of its own. Everything behind the links still
asks for a login; a signed-in user sees the admin's user tools (log out, password).
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from orchestrator_site import health


def _health_report() -> dict[str, Any]:
    """The /health body (health_snapshot: one home for what "healthy" means, kept fresh in the background)."""
    return async_to_sync(health.health_snapshot)()


def _agent_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every enabled agent type with its connected instances (0 when the orchestrator is down)."""
    from agents.models import AgentType

    connected = (report.get("orchestrator") or {}).get("agents_by_type") or {}
    names = list(AgentType.objects.filter(enabled=True).order_by("name").values_list("name", flat=True))
    names += sorted(set(connected) - set(names))  # built-in types such as "orchestrator" itself
    return [{"name": name, "connected": connected.get(name, 0)} for name in names]


@require_safe
def front_page(request: HttpRequest) -> HttpResponse:
    report = _health_report()
    router = report.get("llm_router") or {}
    context = {
        **admin.site.each_context(request),
        "title": "Orchestrator",
        "report": report,
        "agents": _agent_rows(report),
        "router": router,
        "budget_bar_pct": min(100.0, float(router.get("utilization_pct") or 0.0)),
    }
    return TemplateResponse(request, "web/front.html", context)
