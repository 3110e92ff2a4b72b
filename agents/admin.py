"""Admin for agent types and instances, plus the live agents page.

The live page (Agent instances -> "Live status") shows the same picture as
the manager agent's ``list_agents``: database rows, the orchestrator's
connected instances and supervisor's process states, with start / stop /
restart buttons for staff who may change agent instances. It refreshes
itself: its script fetches ``?fragment=1`` (the picture alone) every
LIVE_REFRESH_S and at once when /ws/ reports an agent connecting or leaving. The buttons go
straight to supervisor's XML-RPC socket from the web process; the admin's
staff check stands in for the manager's control token.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from agents.models import AgentInstance, AgentType

# How often the live page refreshes itself (it also refreshes at once on agent events from /ws/).
LIVE_REFRESH_S = 5


@admin.register(AgentType)
class AgentTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "enabled", "description", "instance_count", "updated_at")
    list_filter = ("enabled",)
    search_fields = ("name", "description")
    readonly_fields = ("created_at", "updated_at")

    actions = ["rotate_agent_token"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[AgentType]:
        return super().get_queryset(request).annotate(_instances=Count("instances"))

    @admin.action(description="Rotate the agent token (shown once)", permissions=["change"])
    def rotate_agent_token(self, request: HttpRequest, queryset: QuerySet[AgentType]) -> None:
        # Hardening (agents/auth.py): only the hash is stored, so this message is the one chance to copy it.
        from agents.auth import agent_token_rotate

        for row in queryset:
            token = agent_token_rotate(agent_type=row.name)
            self.message_user(
                request,
                f"New agent token for {row.name} (shown once; put it in AGENT_TOKEN_"
                f"{row.name.upper()} or its token file): {token}",
                messages.WARNING,
            )

    @admin.display(description="instances", ordering="_instances")
    def instance_count(self, obj: AgentType) -> int:
        return getattr(obj, "_instances", 0)


@admin.register(AgentInstance)
class AgentInstanceAdmin(admin.ModelAdmin):
    list_display = ("instance_id", "agent_type", "pid", "transport", "connected", "last_heartbeat", "heartbeat")
    list_filter = ("agent_type", "connected", "transport")
    search_fields = ("instance_id",)
    readonly_fields = (
        "agent_type",
        "instance_id",
        "pid",
        "transport",
        "connected",
        "started_at",
        "connected_at",
        "disconnected_at",
        "last_heartbeat",
    )

    _stale_after_s: float = 45.0

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows are written by the orchestrator (hello) and the manager (heartbeats)

    @admin.display(description="heartbeat")
    def heartbeat(self, obj: AgentInstance) -> str:
        if obj.last_heartbeat is None:
            return "never"
        age = (timezone.now() - obj.last_heartbeat).total_seconds()
        stale = age > self._stale_after_s
        return f"{age:.0f} s ago{' (stale)' if stale else ''}"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        from agents.manager.conf import manager_settings

        # Read once per page, not once per row; concurrent pages store the same value.
        self._stale_after_s = manager_settings(_manager_config()).stale_after_s
        return super().changelist_view(request, extra_context)

    def get_urls(self) -> list[Any]:
        return [
            path("live/", self.admin_site.admin_view(self.live_view), name="agents_agentinstance_live"),
            path(
                "live/control/",
                self.admin_site.admin_view(require_POST(self.control_view)),
                name="agents_agentinstance_control",
            ),
            *super().get_urls(),
        ]

    def _may_control(self, request: HttpRequest) -> bool:
        return request.user.is_staff and self.has_change_permission(request)

    def live_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        from agents.manager import live
        from agents.manager.conf import manager_settings

        ms = manager_settings(_manager_config())
        status, status_info = live.orchestrator_status_sync()
        processes, supervisor_info = live.supervisor_snapshot(ms)
        picture = live.agents_picture(
            ms=ms,
            now=timezone.now(),
            status=status,
            status_info=status_info,
            processes=processes,
            supervisor_info=supervisor_info,
        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Agents: live status",
            "picture": picture,
            "opts": self.model._meta,
            "may_control": self._may_control(request),
            "controllable_groups": ms.controllable_groups,
            "fragment_url": f"{request.path}?fragment=1",
            "refresh_s": LIVE_REFRESH_S,
            "refresh_ms": int(LIVE_REFRESH_S * 1000),
        }
        if request.GET.get("fragment"):
            # Only the picture, for the page's own script to swap in (live.html); admin_view adds never_cache.
            return TemplateResponse(request, "admin/agents/live_picture.html", context)
        return TemplateResponse(request, "admin/agents/live.html", context)

    def control_view(self, request: HttpRequest) -> HttpResponse:
        if not self._may_control(request):
            raise PermissionDenied
        from agents.manager.conf import manager_settings
        from agents.manager.control import process_control
        from agents.manager.supervisor import SupervisorClient
        from agents.protocol import ProtocolError

        ms = manager_settings(_manager_config())
        operation, name = request.POST.get("operation", ""), request.POST.get("name", "")
        client = SupervisorClient(ms.supervisor_socket, timeout=ms.supervisor_timeout_s)
        try:
            result = process_control(operation=operation, name=name, client=client, groups=ms.controllable_groups)
        except ProtocolError as exc:
            self.message_user(request, f"{operation} {name}: {exc.message}", messages.ERROR)
        else:
            done = ", ".join(_outcome(p) for p in result["processes"])
            self.message_user(request, done or f"{operation} {name}: nothing to do", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:agents_agentinstance_live"))


def _outcome(process: dict[str, Any]) -> str:
    """One process's result for a person: "stopped (was pid 41)", "restarted (pid 57, was 41)"."""
    now, before = process.get("pid"), process.get("pid_before")
    if not now:
        pids = f"was pid {before}" if before else "not running"
    elif before and before != now:
        pids = f"pid {now}, was {before}"
    else:
        pids = f"pid {now}"
    return f"{process['name']} {process['result']} ({pids})"


def _manager_config() -> dict[str, Any]:
    from agents.manager.conf import manager_config_load

    return manager_config_load()
