"""Reads for the REST resources (sync ORM; DRF views run in worker threads)."""

from __future__ import annotations

from typing import Any

from agents.models import AgentInstance, AgentType


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _instance_row(inst: AgentInstance, live: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "instance_id": inst.instance_id,
        "pid": inst.pid,
        "transport": inst.transport,
        "connected": inst.connected,
        "started_at": _iso(inst.started_at),
        "connected_at": _iso(inst.connected_at),
        "disconnected_at": _iso(inst.disconnected_at),
        "last_heartbeat": _iso(inst.last_heartbeat),
        "live": live,
    }


def agent_view(
    *, agent_type: AgentType, instances: list[AgentInstance], live_type: dict[str, Any] | None
) -> dict[str, Any]:
    """One agent type: the registry's record joined with the orchestrator's live view.

    ``live_type`` is the type's entry in the orchestrator's ``status`` answer
    (None when the orchestrator could not be asked). Instances the orchestrator
    knows but the registry has not recorded yet are listed too.
    """
    live_by_id = {i.get("instance"): i for i in (live_type or {}).get("instances", [])}
    rows = [_instance_row(inst, live_by_id.pop(inst.instance_id, None)) for inst in instances]
    for instance_id, live in sorted(live_by_id.items(), key=lambda kv: str(kv[0])):
        rows.append(
            {
                "instance_id": instance_id,
                "pid": live.get("pid"),
                "transport": "socket",
                "connected": True,
                "started_at": None,
                "connected_at": None,
                "disconnected_at": None,
                "last_heartbeat": None,
                "live": live,
            }
        )
    summary = None
    if live_type is not None:
        summary = {
            "ready": sum(1 for i in live_type.get("instances", []) if i.get("state") == "READY"),
            "inflight": live_type.get("inflight", 0),
            "queued": live_type.get("queued", 0),
            "actions": live_type.get("actions", []),
        }
    return {
        "name": agent_type.name,
        "description": agent_type.description,
        "enabled": agent_type.enabled,
        "live": summary,
        "instances": rows,
    }


def agents_list(*, live_types: dict[str, Any] | None) -> list[dict[str, Any]]:
    types = list(AgentType.objects.order_by("name"))
    by_type: dict[int, list[AgentInstance]] = {}
    for inst in AgentInstance.objects.order_by("instance_id"):
        by_type.setdefault(inst.agent_type_id, []).append(inst)
    return [
        agent_view(
            agent_type=t,
            instances=by_type.get(t.pk, []),
            live_type=(live_types or {}).get(t.name) if live_types is not None else None,
        )
        for t in types
    ]


def agent_get(*, name: str, live_types: dict[str, Any] | None) -> dict[str, Any] | None:
    agent_type = AgentType.objects.filter(name=name).first()
    if agent_type is None:
        return None
    instances = list(AgentInstance.objects.filter(agent_type=agent_type).order_by("instance_id"))
    live = (live_types or {}).get(name) if live_types is not None else None
    return agent_view(agent_type=agent_type, instances=instances, live_type=live)
