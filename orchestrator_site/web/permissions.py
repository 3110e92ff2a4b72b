"""API permissions: reads need an authenticated caller, writes need staff."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission


class ReadAuthenticatedWriteStaff(BasePermission):
    """The project-wide default: GET/HEAD/OPTIONS for any authenticated user
    (API token or session), every other method for staff only."""

    message = "Writes need a staff account."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or bool(user.is_staff)
