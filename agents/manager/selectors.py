"""The manager's reads: the live picture of every agent type and instance.

Three sources are merged here, each possibly missing:
  * the database: AgentType rows, AgentInstance rows (hello/disconnect from
    the orchestrator, last_heartbeat from the manager), HeartbeatClaim rows;
  * the orchestrator's ``status`` (which instances are connected right now);
  * supervisor's getAllProcessInfo (process state, pid, uptime).
Fetching the live sources is the caller's job (async in the agent, sync in
the admin); these functions only read the database and combine. Sync ORM.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.manager.models import HeartbeatClaim
from agents.manager.supervisor import ProcessInfo
from agents.models import AgentInstance, AgentType

_NUMBERED = re.compile(r"^(?P<program>.+)-(?P<num>\d+)$")


def conventional_instance_id(process_name: str) -> tuple[str, str]:
    """(agent type, instance id) that supervisord.conf gives a process: naming-2 -> AGT-NAMING-2."""
    match = _NUMBERED.match(process_name)
    program, num = (match["program"], match["num"]) if match else (process_name, "1")
    return program, f"AGT-{program.upper()}-{num}"


def live_connections(status: dict[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    """type -> instances connected to the orchestrator, from its status answer."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name, info in ((status or {}).get("types") or {}).items():
        out[name] = [i for i in (info or {}).get("instances", []) if isinstance(i, dict)]
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _age(now: datetime, value: datetime | None) -> float | None:
    return round((now - value).total_seconds(), 3) if value else None


def _latest_claims(agent_type: str | None) -> dict[tuple[str, str], HeartbeatClaim]:
    claims = HeartbeatClaim.objects.select_related("agent_type").order_by("last_seen")
    if agent_type:
        claims = claims.filter(agent_type__name=agent_type)
    return {(c.agent_type.name, c.instance_id): c for c in claims}  # the latest wins


def instances_overview(
    *,
    now: datetime,
    stale_after_s: float,
    orchestrator_status: dict[str, Any] | None,
    processes: list[ProcessInfo] | None,
    agent_type: str | None = None,
    agent_group: str = "agents",
) -> list[dict[str, Any]]:
    """One entry per agent type with its instances, each combining all three sources."""
    types = AgentType.objects.order_by("name")
    if agent_type:
        types = types.filter(name=agent_type)
    rows = AgentInstance.objects.select_related("agent_type").order_by("instance_id")
    connected = live_connections(orchestrator_status)
    claims = _latest_claims(agent_type)
    agent_processes = [p for p in (processes or []) if p.group == agent_group]
    result = []
    for kind in types:
        entries: dict[str, dict[str, Any]] = {}
        for row in rows.filter(agent_type=kind):
            entries[row.instance_id] = _from_row(row, claims.get((kind.name, row.instance_id)))
        for link in connected.get(kind.name, []):
            entry = entries.setdefault(str(link.get("instance")), _empty(kind.name, str(link.get("instance"))))
            entry.update(
                connected=True,
                orchestrator_state=link.get("state"),
                inflight=link.get("inflight"),
                pid=link.get("pid") or entry["pid"],
            )
        if orchestrator_status is not None:
            live_ids = {str(link.get("instance")) for link in connected.get(kind.name, [])}
            for instance_id, entry in entries.items():
                if instance_id not in live_ids and entry["transports"] != ["redis"]:
                    entry["connected"] = False
        _attach_processes(kind.name, entries, agent_processes)
        for entry in entries.values():
            _finish(entry, now=now, stale_after_s=stale_after_s)
        result.append(
            {
                "name": kind.name,
                "description": kind.description,
                "enabled": kind.enabled,
                "instances": sorted(entries.values(), key=lambda e: e["instance"]),
            }
        )
    return result


def _empty(agent_type: str, instance_id: str) -> dict[str, Any]:
    return {
        "agent_type": agent_type,
        "instance": instance_id,
        "registered": False,
        "pid": None,
        "connected": False,
        "orchestrator_state": None,
        "inflight": None,
        "transports": [],
        "started_at": None,
        "connected_at": None,
        "disconnected_at": None,
        "last_heartbeat": None,
        "process": None,
    }


def _from_row(row: AgentInstance, claim: HeartbeatClaim | None) -> dict[str, Any]:
    entry = _empty(row.agent_type.name, row.instance_id)
    entry.update(
        registered=True,
        pid=(claim.pid if claim else None) or row.pid,
        connected=row.connected,
        transports=list(claim.transports) if claim else ([row.transport] if row.transport else []),
        started_at=row.started_at,
        connected_at=row.connected_at,
        disconnected_at=row.disconnected_at,
        last_heartbeat=row.last_heartbeat,
    )
    return entry


def _attach_processes(agent_type: str, entries: dict[str, dict[str, Any]], processes: list[ProcessInfo]) -> None:
    """Pair supervisor processes with instances: by pid, else by supervisord.conf's naming convention."""
    by_pid = {e["pid"]: e for e in entries.values() if e["pid"]}
    for proc in processes:
        program, conventional = conventional_instance_id(proc.name)
        entry = by_pid.get(proc.pid) if proc.pid else None
        if entry is None:
            if program != agent_type:
                continue
            entry = entries.setdefault(conventional, _empty(agent_type, conventional))
        entry["process"] = proc.as_dict()
        if proc.pid:
            entry["pid"] = proc.pid


def _finish(entry: dict[str, Any], *, now: datetime, stale_after_s: float) -> None:
    process = entry["process"]
    entry["state"] = process["state"] if process else None
    entry["uptime_s"] = (
        process["uptime_s"] if process else (_age(now, entry["connected_at"]) if entry["connected"] else None)
    )
    entry["heartbeat_age_s"] = _age(now, entry["last_heartbeat"])
    # Silent since the last heartbeat (or, before the first one, since it connected).
    reference = entry["last_heartbeat"] or entry["connected_at"] or entry["started_at"]
    entry["stale"] = reference is None or (now - reference) > timedelta(seconds=stale_after_s)
    for key in ("started_at", "connected_at", "disconnected_at", "last_heartbeat"):
        entry[key] = _iso(entry[key])


def collisions_find(
    *, now: datetime, stale_after_s: float, orchestrator_status: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Instance ids claimed by more than one live process at the same time.

    A claimant is a process (host, pid) seen through its heartbeats within
    ``stale_after_s`` (alive from its first to its last heartbeat), or through a
    connection in the orchestrator's status (alive from connecting until now).
    Two claimants collide only when those lifetimes overlap. An ordinary restart
    (supervisorctl, restart_agent, the admin's buttons) is a succession: the old
    process's last heartbeat comes before the new one started, so it never shows
    as a collision, though the old heartbeat is still recent. Two processes that
    really run with one id overlap as soon as both have been seen once more: at
    once through two orchestrator connections, within one heartbeat interval
    through heartbeats.
    """
    since = now - timedelta(seconds=stale_after_s)
    claimants: dict[tuple[str, str], dict[tuple[str, Any], dict[str, Any]]] = defaultdict(dict)
    for claim in HeartbeatClaim.objects.select_related("agent_type").filter(last_seen__gte=since):
        claimants[(claim.agent_type.name, claim.instance_id)][(claim.host, claim.pid)] = {
            "pid": claim.pid,
            "host": claim.host,
            "source": "heartbeat",
            "last_seen": _iso(claim.last_seen),
            "transports": claim.transports,
            "_alive": (claim.first_seen, claim.last_seen),
        }
    for agent_type, links in live_connections(orchestrator_status).items():
        for index, link in enumerate(links):
            seen = claimants[(agent_type, str(link.get("instance")))]
            pid = link.get("pid")
            # Keyed like a local heartbeat claim, so one process seen through
            # both sources counts once (and is alive until now).
            key = ("", pid) if pid is not None else ("orchestrator", index)
            since_connect = _link_connected_at(link, now)
            if key in seen:
                first, _last = seen[key]["_alive"]
                seen[key]["_alive"] = (min(first, since_connect), now)
                continue
            seen[key] = {
                "pid": pid,
                "host": "",
                "source": "orchestrator",
                "state": link.get("state"),
                "_alive": (since_connect, now),
            }
    found = []
    for (agent_type, instance), by_process in sorted(claimants.items()):
        overlapping = _overlapping(list(by_process.values()))
        if len(overlapping) > 1:
            found.append({"agent_type": agent_type, "instance": instance, "claimants": overlapping})
    return found


def _link_connected_at(link: dict[str, Any], now: datetime) -> datetime:
    """When an orchestrator connection began (its status gives epoch seconds); now if it does not say."""
    stamp = link.get("connected_at")
    if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
        return min(now, datetime.fromtimestamp(stamp, tz=UTC))
    return now


def _overlapping(claimants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The claimants whose lifetime overlaps another's, without the internal lifetime."""
    keep = []
    for i, one in enumerate(claimants):
        first, last = one["_alive"]
        if any(
            j != i and first <= other["_alive"][1] and other["_alive"][0] <= last for j, other in enumerate(claimants)
        ):
            keep.append({k: v for k, v in one.items() if k != "_alive"})
    return keep


def processes_outside_agents(processes: Iterable[ProcessInfo], agent_group: str = "agents") -> list[dict[str, Any]]:
    return [p.as_dict() for p in processes if p.group != agent_group]
