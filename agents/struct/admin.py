from __future__ import annotations

from django.contrib import admin

from agents.struct.models import Structure


@admin.register(Structure)
class StructureAdmin(admin.ModelAdmin):
    list_display = ("name", "directory", "template", "owner", "status", "created_at", "removed_at")
    list_filter = ("status", "template")
    search_fields = ("name", "slug", "cid", "directory", "owner")
    # The folder on disk is the truth these rows describe; editing them by
    # hand would let remove_structure act on a path it did not create.
    readonly_fields = ("cid", "name", "slug", "workspace_root", "parent", "directory", "template", "files",
                       "status", "created_at", "removed_at", "instance_id")
