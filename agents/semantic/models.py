"""The concept store, plus what keeps every semantic instance's index in step.

The similarity index itself lives in each process's memory (see
similarity.py); the database holds what makes those indexes agree: the
concepts, a corpus version bumped in the same transaction as every change,
and a log of changes by version, so an instance that sees a newer version
applies exactly the missing adds and deletes (or reloads when it fell too
far behind).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Concept(models.Model):
    cid = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    # casefolded name: prefix filters behave the same on SQLite and PostgreSQL
    name_key = models.CharField(max_length=200, db_index=True, editable=False)
    domain = models.CharField(max_length=64, db_index=True)
    description = models.TextField(blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["domain", "name_key"], name="semantic_concept_name_unique_per_domain"),
        ]
        indexes = [models.Index(fields=["domain", "created_at", "id"], name="semantic_domain_created_idx")]

    def __str__(self) -> str:
        return f"{self.domain}/{self.name}"


class CorpusState(models.Model):
    """One row (pk=1). ``version`` is bumped by every change, under the row's lock.

    ``epoch`` is new whenever the row is (re)created, e.g. after the table was
    emptied, so a cached index never mistakes a different corpus that reached
    the same version number for its own.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    epoch = models.CharField(max_length=32)
    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"corpus {self.epoch[:8]} v{self.version}"


class ConceptChange(models.Model):
    class Op(models.TextChoices):
        ADD = "add", "add"
        DELETE = "delete", "delete"

    version = models.BigIntegerField(unique=True)
    concept_id = models.BigIntegerField()
    op = models.CharField(max_length=6, choices=Op.choices)

    class Meta:
        ordering = ["version"]

    def __str__(self) -> str:
        return f"v{self.version} {self.op} {self.concept_id}"
