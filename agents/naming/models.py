"""What the naming agent hands out, kept for good.

Uniqueness is the database's job, not the code's: every name, CID, sequence
number and idempotency key sits under a unique constraint, so two agent
processes (or threads) racing can never hand out the same one. Sequence
numbers come from ``SequenceCounter`` rows bumped with a conditional UPDATE
inside the allocating transaction, so a failed allocation rolls its number
back and the sequence stays gap-free.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

# Stored idempotency keys are prefixed with where they came from, so a client's
# explicit key "42" and a request whose id is 42 never answer for each other.
KEY_MAX_LENGTH = 255


class SequenceCounter(models.Model):
    """The last number handed out in one sequence.

    ``scope`` is ``namespace:<project>.<environment>`` or ``capability:<DOMAIN>``.
    """

    scope = models.CharField(max_length=120, unique=True)
    last_value = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope"]

    def __str__(self) -> str:
        return f"{self.scope} = {self.last_value}"


class Namespace(models.Model):
    name = models.CharField(max_length=200, unique=True)
    project = models.CharField(max_length=40, db_index=True)
    environment = models.CharField(max_length=40, db_index=True)
    # None for an explicitly named namespace (it takes no sequence number).
    sequence = models.PositiveBigIntegerField(null=True, blank=True)
    cid = models.CharField("CID", max_length=200, unique=True)
    description = models.CharField(max_length=500, blank=True)
    idempotency_key = models.CharField(max_length=KEY_MAX_LENGTH, null=True, blank=True, unique=True)
    # Hash of the parameters of the first request, to tell a true retry from a
    # different request that reuses a key.
    request_hash = models.CharField(max_length=64, blank=True)
    interface = models.CharField(max_length=100, blank=True)
    allocated_by = models.CharField(max_length=100, blank=True, help_text="Agent instance that allocated it.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "environment", "sequence"], name="naming_namespace_unique_sequence"
            ),
            models.CheckConstraint(
                condition=Q(sequence__isnull=True) | Q(sequence__gte=1), name="naming_namespace_sequence_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Capability(models.Model):
    capability_id = models.CharField("capability id", max_length=60, unique=True)
    domain = models.CharField(max_length=24, db_index=True)
    sequence = models.PositiveBigIntegerField()
    name = models.CharField(max_length=200)
    slug = models.CharField(max_length=48)
    directory = models.CharField(max_length=60, unique=True)
    project = models.CharField(max_length=40, db_index=True)
    environment = models.CharField(max_length=40, db_index=True)
    cid = models.CharField("CID", max_length=200, unique=True)
    purpose = models.CharField(max_length=1000, blank=True)
    template = models.CharField(max_length=100, blank=True)
    scaffold = models.BooleanField(default=False, help_text="A folder was requested from the struct agent.")
    path = models.CharField(max_length=1000, blank=True, help_text="The folder struct created, once it has.")
    idempotency_key = models.CharField(max_length=KEY_MAX_LENGTH, null=True, blank=True, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    interface = models.CharField(max_length=100, blank=True)
    allocated_by = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "capabilities"
        constraints = [
            models.UniqueConstraint(fields=["domain", "sequence"], name="naming_capability_unique_sequence"),
            models.CheckConstraint(condition=Q(sequence__gte=1), name="naming_capability_sequence_positive"),
        ]

    def __str__(self) -> str:
        return self.capability_id


class Session(models.Model):
    session_id = models.CharField("session id", max_length=40, unique=True)
    project = models.CharField(max_length=40, db_index=True)
    environment = models.CharField(max_length=40, db_index=True)
    cid = models.CharField("CID", max_length=200, unique=True)
    metadata = models.JSONField(default=dict, blank=True)
    ttl_s = models.PositiveIntegerField("TTL (s)", null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    idempotency_key = models.CharField(max_length=KEY_MAX_LENGTH, null=True, blank=True, unique=True)
    request_hash = models.CharField(max_length=64, blank=True)
    interface = models.CharField(max_length=100, blank=True)
    allocated_by = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.session_id
