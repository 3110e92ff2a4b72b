"""Admin views of what the naming agent allocated.

Allocations are made only by the services (sequence numbers, CIDs and keys
must come from the one transaction that guards them), so the admin can look,
search, filter and delete, but not add or rewrite the identifying fields.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from agents.naming.models import Capability, Namespace, SequenceCounter, Session
from orchestrator_common.admin_readonly import ReadOnlyAdmin


class AllocationAdmin(admin.ModelAdmin):
    date_hierarchy = "created_at"
    list_per_page = 100
    show_full_result_count = False  # COUNT(*) on a big table is slow; the paginator still works

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Namespace)
class NamespaceAdmin(AllocationAdmin):
    list_display = ("name", "project", "environment", "sequence", "cid", "allocated_by", "created_at")
    list_filter = ("project", "environment", "created_at")
    search_fields = ("name", "cid", "description", "idempotency_key")
    readonly_fields = (
        "name",
        "project",
        "environment",
        "sequence",
        "cid",
        "idempotency_key",
        "request_hash",
        "interface",
        "allocated_by",
        "created_at",
    )
    fields = readonly_fields[:5] + ("description",) + readonly_fields[5:]


@admin.register(Capability)
class CapabilityAdmin(AllocationAdmin):
    list_display = ("capability_id", "name", "domain", "project", "environment", "directory", "path", "created_at")
    list_filter = ("domain", "project", "environment", "scaffold", "created_at")
    search_fields = ("capability_id", "name", "slug", "directory", "cid", "purpose", "idempotency_key")
    readonly_fields = (
        "capability_id",
        "domain",
        "sequence",
        "name",
        "slug",
        "directory",
        "project",
        "environment",
        "cid",
        "template",
        "scaffold",
        "path",
        "idempotency_key",
        "request_hash",
        "interface",
        "allocated_by",
        "created_at",
    )
    fields = readonly_fields[:10] + ("purpose",) + readonly_fields[10:]


@admin.register(Session)
class SessionAdmin(AllocationAdmin):
    list_display = ("session_id", "project", "environment", "ttl_s", "expires_at", "created_at")
    list_filter = ("project", "environment", "created_at")
    search_fields = ("session_id", "cid", "idempotency_key")
    readonly_fields = (
        "session_id",
        "project",
        "environment",
        "cid",
        "metadata",
        "ttl_s",
        "expires_at",
        "idempotency_key",
        "request_hash",
        "interface",
        "allocated_by",
        "created_at",
    )


@admin.register(SequenceCounter)
class SequenceCounterAdmin(ReadOnlyAdmin):
    """Read-only: changing a counter by hand would hand out a number twice or leave a gap."""

    list_display = ("scope", "last_value", "updated_at")
    search_fields = ("scope",)
