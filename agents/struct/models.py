"""Every structure the struct agent created, so it removes only its own work."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Structure(models.Model):
    class Status(models.TextChoices):
        CREATING = "creating", "creating"  # row claimed, files being written
        READY = "ready", "ready"
        REMOVED = "removed", "removed"

    cid = models.CharField(max_length=200)
    name = models.CharField(max_length=100)
    slug = models.CharField(max_length=64)
    # The folder: <workspace_root>/<parent>/<directory>; all three recorded so
    # that remove_structure never has to trust a path sent in a request.
    workspace_root = models.CharField(max_length=1024)
    parent = models.CharField(max_length=255, blank=True, default="")
    directory = models.CharField(max_length=100)
    template = models.CharField(max_length=64)
    purpose = models.TextField(blank=True, default="")
    owner = models.CharField(max_length=100, blank=True, default="")
    files = models.JSONField(default=list, blank=True, help_text="Relative paths of the files it wrote.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATING)
    created_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)
    instance_id = models.CharField(max_length=100, blank=True, default="", help_text="Agent instance that made it.")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One live structure per name (slug) per workspace root, and per
            # CID: the database, not a read-then-write, decides who wins a race.
            models.UniqueConstraint(
                fields=["workspace_root", "slug"],
                condition=Q(removed_at__isnull=True),
                name="struct_live_slug_unique_per_root",
            ),
            models.UniqueConstraint(
                fields=["cid"], condition=Q(removed_at__isnull=True), name="struct_live_cid_unique"
            ),
        ]
        indexes = [models.Index(fields=["workspace_root", "directory"], name="struct_root_dir_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.relative_path})"

    @property
    def relative_path(self) -> str:
        return f"{self.parent}/{self.directory}" if self.parent else self.directory
