"""The manager's writes: heartbeats and control tokens. Sync ORM functions.

Callers on an event loop run them in a worker thread (the agent's blocking
actions do that for them).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from agents.manager import tokens
from agents.manager.models import HeartbeatClaim
from agents.models import AgentInstance, AgentType

# Claims of processes silent this long are deleted (they can no longer collide).
CLAIM_RETENTION = timedelta(days=1)


def instance_heartbeat(
    *, agent_type: str, instance_id: str, pid: int, host: str = "", transports: list[str] | None = None, now: datetime
) -> HeartbeatClaim:
    """Record that process ``pid`` on ``host`` is alive and claims ``agent_type/instance_id``.

    Raises AgentType.DoesNotExist for an unknown type. Writes are conditional
    UPDATEs with a create only when no row matched, so concurrent first
    heartbeats (or the orchestrator recording the same instance's hello) meet
    at the unique constraints instead of duplicating rows.
    """
    kind = AgentType.objects.get(name=agent_type)
    transports = list(transports or [])
    with transaction.atomic():
        # Only last_heartbeat: connected/transport/pid belong to the orchestrator,
        # which matches rows on transport when an agent disconnects.
        if not AgentInstance.objects.filter(agent_type=kind, instance_id=instance_id).update(last_heartbeat=now):
            _create_or_update(
                AgentInstance,
                {"agent_type": kind, "instance_id": instance_id},
                {"last_heartbeat": now},
                {"pid": pid, "started_at": now},
            )
        match = {"agent_type": kind, "instance_id": instance_id, "host": host, "pid": pid}
        updated = HeartbeatClaim.objects.filter(**match).update(last_seen=now, transports=transports)
        if not updated:
            _create_or_update(HeartbeatClaim, match, {"last_seen": now, "transports": transports}, {"first_seen": now})
            # A new process under this id (a restart). Rows the orchestrator keeps (socket)
            # get their start from its hello; the others from here.
            AgentInstance.objects.filter(agent_type=kind, instance_id=instance_id).exclude(transport="socket").exclude(
                pid=pid
            ).update(started_at=now, pid=pid)
            # A new process appeared: a good moment to forget long-dead ones.
            HeartbeatClaim.objects.filter(last_seen__lt=now - CLAIM_RETENTION).delete()
    return HeartbeatClaim.objects.select_related("agent_type").get(**match)


def _create_or_update(model: Any, match: dict[str, Any], values: dict[str, Any], on_create: dict[str, Any]) -> None:
    try:
        with transaction.atomic():  # savepoint: a lost race must not poison the outer transaction
            model.objects.create(**match, **values, **on_create)
    except IntegrityError:
        model.objects.filter(**match).update(**values)


def control_token_create() -> str:
    """Generate a process-control token, store its hash, return the token (shown once)."""
    token = tokens.token_generate()
    with transaction.atomic():
        kind, _ = AgentType.objects.select_for_update().get_or_create(
            name="manager", defaults={"description": "Agent registry, heartbeats and process control"}
        )
        config = dict(kind.config or {})
        config["control_tokens"] = [*config.get("control_tokens", []), tokens.token_hash(token)]
        kind.config = config
        kind.save(update_fields=["config", "updated_at"])
    return token


def control_tokens_revoke_all() -> int:
    """Forget every process-control token; returns how many there were."""
    with transaction.atomic():
        kind = AgentType.objects.select_for_update().filter(name="manager").first()
        if kind is None:
            return 0
        config = dict(kind.config or {})
        count = len(config.pop("control_tokens", []))
        kind.config = config
        kind.save(update_fields=["config", "updated_at"])
    return count
