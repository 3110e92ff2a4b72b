from __future__ import annotations

from django.contrib import admin

from agents.semantic.models import Concept, ConceptChange, CorpusState
from orchestrator_common.admin_readonly import ReadOnlyAdmin


@admin.register(Concept)
class ConceptAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "cid", "created_at")
    list_filter = ("domain",)
    search_fields = ("name", "cid", "description")
    # Concepts change only through the services, which log every change so
    # that each semantic instance's index catches up; an edit here would not.
    readonly_fields = ("cid", "name", "name_key", "domain", "description", "metadata", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def delete_model(self, request, obj: Concept) -> None:
        from agents.semantic.services import concept_delete

        concept_delete(cid=obj.cid)

    def delete_queryset(self, request, queryset) -> None:
        from agents.semantic.services import concept_delete

        for cid in queryset.values_list("cid", flat=True):
            concept_delete(cid=cid)


# The corpus version and its change log are what every semantic instance's index follows:
# written only by the services, in the transaction of each change (semantic/models.py).
@admin.register(CorpusState)
class CorpusStateAdmin(ReadOnlyAdmin):
    list_display = ("id", "epoch", "version")


@admin.register(ConceptChange)
class ConceptChangeAdmin(ReadOnlyAdmin):
    list_display = ("version", "op", "concept_id")
    list_filter = ("op",)
