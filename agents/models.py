"""The agent registry: which agent types exist and which instances were seen.

Agent types come from the database (the orchestrator opens one socket per
enabled type); instances are recorded by the orchestrator as they say hello
and by the manager agent's heartbeats.
"""

from __future__ import annotations

from django.db import models


class AgentType(models.Model):
    name = models.SlugField(max_length=40, unique=True, help_text="Socket name: orchestrator-<name>.sock")
    description = models.CharField(max_length=200, blank=True)
    enabled = models.BooleanField(default=True, help_text="Disabled types get no socket and answer UNKNOWN_AGENT.")
    # Settings the agent reads at start (workspace root, environments, ...).
    config = models.JSONField(default=dict, blank=True)
    # SHA-256 (hex) of the type's agent token; empty: no token, any hello is accepted.
    # Only the hash is stored; the token is shown once by agent_token_rotate (agents/auth.py).
    token_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    token_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentInstance(models.Model):
    agent_type = models.ForeignKey(AgentType, on_delete=models.CASCADE, related_name="instances")
    instance_id = models.CharField(max_length=100)
    pid = models.IntegerField(null=True, blank=True)
    transport = models.CharField(max_length=20, blank=True)
    connected = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["agent_type__name", "instance_id"]
        constraints = [
            models.UniqueConstraint(fields=["agent_type", "instance_id"], name="agents_instance_unique_per_type"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_type.name}/{self.instance_id}"
