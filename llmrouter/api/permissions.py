"""Who may call the router's endpoints."""
from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

from llmrouter import conf


class RouteCallerPermission(BasePermission):
    """POST /api/route-llm and its usage report: anyone unless settings require a login."""

    message = "Routing needs an authenticated caller (LLMROUTER_ROUTE_ALLOW_ANONYMOUS is off)."

    def has_permission(self, request: Any, view: Any) -> bool:
        if conf.get("ROUTE_ALLOW_ANONYMOUS"):
            return True
        user = request.user
        return bool(user and user.is_authenticated)


class ReadAuthenticatedWriteStaff(BasePermission):
    """Reads for any authenticated caller (token or session), writes for staff."""

    message = "Writes need a staff account."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or bool(user.is_staff)
