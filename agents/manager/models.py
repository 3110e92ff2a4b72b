"""What the manager remembers beyond AgentInstance: who sent each heartbeat.

AgentInstance holds one row per (type, instance id), so two processes that
claim the same id would overwrite each other there. A HeartbeatClaim row per
(type, instance id, host, pid) keeps both visible, which is how
``check_collisions`` finds two live processes behind one id.
"""

from __future__ import annotations

from django.db import models


class HeartbeatClaim(models.Model):
    agent_type = models.ForeignKey("agents.AgentType", on_delete=models.CASCADE, related_name="heartbeat_claims")
    instance_id = models.CharField(max_length=100)
    host = models.CharField(max_length=255, blank=True)
    pid = models.IntegerField()
    transports = models.JSONField(default=list, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["agent_type__name", "instance_id", "-last_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent_type", "instance_id", "host", "pid"], name="manager_claim_unique_per_process"
            ),
        ]
        indexes = [models.Index(fields=["last_seen"], name="manager_claim_last_seen")]

    def __str__(self) -> str:
        return f"{self.agent_type.name}/{self.instance_id} pid {self.pid}@{self.host or 'local'}"
