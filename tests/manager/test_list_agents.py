"""list_agents / agent_status: registry rows, orchestrator status and supervisor state merged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.manager.conf import manager_settings
from agents.manager.live import agents_picture, supervisor_snapshot
from agents.models import AgentInstance, AgentType

pytestmark = pytest.mark.django_db(transaction=True)


def instances(picture, agent_type):
    kind = next(t for t in picture["types"] if t["name"] == agent_type)
    return {i["instance"]: i for i in kind["instances"]}


def test_every_registered_type_is_listed_even_without_instances(agent_types, manager):
    frame = manager.call("list_agents")
    assert frame["status"] == "success", frame
    names = {t["name"] for t in frame["data"]["types"]}
    assert {"naming", "struct", "semantic", "manager"} <= names
    # Nothing runs here: both live sources are reported as unavailable, not as an error.
    assert frame["data"]["supervisor"]["available"] is False
    assert frame["data"]["orchestrator"]["available"] is False


def test_supervisor_processes_are_paired_with_their_instances(agent_types, sandbox, controlling_manager):
    naming1 = sandbox.client().process("agents:naming-1")
    kind = AgentType.objects.get(name="naming")
    AgentInstance.objects.create(
        agent_type=kind,
        instance_id="AGT-NAMING-1",
        pid=naming1.pid,
        transport="socket",
        connected=True,
        connected_at=timezone.now(),
        last_heartbeat=timezone.now(),
    )
    frame = controlling_manager.call("list_agents")
    assert frame["status"] == "success", frame
    data = frame["data"]
    assert data["supervisor"]["available"] is True
    naming = instances(data, "naming")
    # naming-1 matched by pid, naming-2 (never registered) by supervisord.conf's naming convention.
    assert naming["AGT-NAMING-1"]["process"]["name"] == "agents:naming-1"
    assert naming["AGT-NAMING-1"]["state"] == "RUNNING" and naming["AGT-NAMING-1"]["pid"] == naming1.pid
    assert naming["AGT-NAMING-1"]["uptime_s"] is not None and naming["AGT-NAMING-1"]["stale"] is False
    assert naming["AGT-NAMING-2"]["registered"] is False and naming["AGT-NAMING-2"]["state"] == "RUNNING"
    assert {p["name"] for p in data["processes"]} == {"web", "broken"}  # outside the agents group


def test_the_orchestrators_status_decides_who_is_connected(agent_types, sandbox):
    kind = AgentType.objects.get(name="naming")
    long_ago = timezone.now() - timedelta(hours=1)
    # The database still says connected (say, the orchestrator was SIGKILLed before recording the drop).
    AgentInstance.objects.create(
        agent_type=kind, instance_id="AGT-NAMING-1", pid=11, transport="socket", connected=True, connected_at=long_ago
    )
    status = {
        "types": {"naming": {"instances": [{"instance": "AGT-NAMING-2", "pid": 22, "state": "READY", "inflight": 3}]}}
    }
    ms = manager_settings({"supervisor_socket": str(sandbox.socket), "stale_after_s": 30})
    processes, info = supervisor_snapshot(ms)
    picture = agents_picture(
        ms=ms,
        now=timezone.now(),
        status=status,
        status_info={"available": True},
        processes=processes,
        supervisor_info=info,
        agent_type="naming",
    )
    naming = instances(picture, "naming")
    assert naming["AGT-NAMING-1"]["connected"] is False
    assert naming["AGT-NAMING-1"]["stale"] is True  # silent for an hour
    assert naming["AGT-NAMING-2"]["connected"] is True and naming["AGT-NAMING-2"]["inflight"] == 3


def test_two_orchestrator_links_with_one_instance_id_are_a_collision(agent_types, manager):
    from agents.manager.selectors import collisions_find

    status = {
        "types": {
            "naming": {
                "instances": [
                    {"instance": "AGT-NAMING-1", "pid": 1},
                    {"instance": "AGT-NAMING-1", "pid": 2},
                    {"instance": "AGT-NAMING-2", "pid": 3},
                ]
            }
        }
    }
    found = collisions_find(now=timezone.now(), stale_after_s=30, orchestrator_status=status)
    assert [(c["instance"], sorted(p["pid"] for p in c["claimants"])) for c in found] == [("AGT-NAMING-1", [1, 2])]


def test_agent_status_of_an_unknown_type_or_instance_is_not_found(agent_types, manager):
    assert manager.call("agent_status", {"agent_type": "nope"})["error"]["code"] == "NOT_FOUND"
    frame = manager.call("agent_status", {"agent_type": "naming", "instance": "AGT-NAMING-9"})
    assert frame["error"]["code"] == "NOT_FOUND"


def test_agent_status_of_one_instance(agent_types, manager):
    manager.call("heartbeat", {"agent_type": "struct", "instance": "AGT-STRUCT-1", "pid": 77})
    frame = manager.call("agent_status", {"agent_type": "struct", "instance": "AGT-STRUCT-1"})
    assert frame["status"] == "success", frame
    assert frame["data"]["instance"]["pid"] == 77
    assert frame["data"]["instance"]["heartbeat_age_s"] < 30


def test_started_at_follows_a_restart_and_not_a_reconnect(agent_types, manager):
    from orchestrator_site.orchestrator.registry_sync import agent_instance_connected, agent_instance_disconnected

    agent_instance_connected(agent_type="naming", instance_id="AGT-NAMING-1", pid=100)
    manager.call("heartbeat", {"agent_type": "naming", "instance": "AGT-NAMING-1", "pid": 100})
    first = AgentInstance.objects.get(instance_id="AGT-NAMING-1").started_at
    AgentInstance.objects.filter(instance_id="AGT-NAMING-1").update(started_at=first - timedelta(hours=2))
    old = first - timedelta(hours=2)
    # The same process reconnects (an orchestrator restart): its start stands.
    agent_instance_disconnected(agent_type="naming", instance_id="AGT-NAMING-1")
    agent_instance_connected(agent_type="naming", instance_id="AGT-NAMING-1", pid=100)
    assert AgentInstance.objects.get(instance_id="AGT-NAMING-1").started_at == old
    assert AgentInstance.objects.get(instance_id="AGT-NAMING-1").last_heartbeat is not None
    # A new process under the id (supervisorctl restart): started now.
    agent_instance_disconnected(agent_type="naming", instance_id="AGT-NAMING-1")
    before = timezone.now()
    agent_instance_connected(agent_type="naming", instance_id="AGT-NAMING-1", pid=200)
    row = AgentInstance.objects.get(instance_id="AGT-NAMING-1")
    assert row.started_at >= before and row.pid == 200 and row.connected
    assert row.last_heartbeat is None  # the old process's, not this one's
    listed = instances(manager.call("list_agents")["data"], "naming")["AGT-NAMING-1"]
    assert listed["started_at"] == row.started_at.isoformat().replace("+00:00", "Z")


def test_started_at_of_a_redis_only_agent_follows_its_new_pid(agent_types, manager):
    manager.call("heartbeat", {"agent_type": "struct", "instance": "AGT-STRUCT-1", "pid": 10, "transports": ["redis"]})
    AgentInstance.objects.filter(instance_id="AGT-STRUCT-1").update(started_at=timezone.now() - timedelta(hours=1))
    before = timezone.now()
    manager.call("heartbeat", {"agent_type": "struct", "instance": "AGT-STRUCT-1", "pid": 11, "transports": ["redis"]})
    row = AgentInstance.objects.get(instance_id="AGT-STRUCT-1")
    assert row.started_at >= before and row.pid == 11
