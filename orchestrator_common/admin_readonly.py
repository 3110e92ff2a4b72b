"""The admin base for rows that only the services may write.

Sequence counters, structures, the corpus version and its change log, the
ledger, route logs and checkpoints each carry an invariant that one service
keeps inside one transaction (a number handed out once, a folder on disk, a
version every semantic instance follows, money that is never rewritten). An
add, change or delete form in the admin would bypass that service, so these
admins only show: list, search, filter and a read-only detail page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
