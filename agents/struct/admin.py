"""Structures the struct agent created: shown, never written here.

The folder on disk is the truth these rows describe; adding or editing one by
hand would let ``remove_structure`` act on a path it did not create, and
deleting one would orphan its folder. ``remove_structure`` is the way out.
"""

from __future__ import annotations

from django.contrib import admin

from agents.struct.models import Structure
from orchestrator_common.admin_readonly import ReadOnlyAdmin


@admin.register(Structure)
class StructureAdmin(ReadOnlyAdmin):
    list_display = ("name", "directory", "template", "owner", "status", "created_at", "removed_at")
    list_filter = ("status", "template")
    search_fields = ("name", "slug", "cid", "directory", "owner")
