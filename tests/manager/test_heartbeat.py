"""Heartbeats, staleness and instance-id collisions, through the manager's real handle()."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from agents.manager.models import HeartbeatClaim
from agents.models import AgentInstance, AgentType

pytestmark = pytest.mark.django_db(transaction=True)


def beat(manager, instance="AGT-NAMING-1", pid=4242, **extra):
    return manager.call(
        "heartbeat",
        {"agent_type": "naming", "instance": instance, "pid": pid, "transports": ["socket", "redis"], **extra},
    )


def test_heartbeat_records_last_heartbeat_on_the_instance_row(agent_types, manager):
    before = timezone.now()
    frame = beat(manager)
    assert frame["status"] == "success", frame
    assert frame["data"]["recorded"] is True and frame["data"]["collision"] is False
    row = AgentInstance.objects.get(agent_type__name="naming", instance_id="AGT-NAMING-1")
    assert row.last_heartbeat >= before
    assert row.pid == 4242


def test_heartbeat_leaves_the_orchestrators_connection_fields_alone(agent_types, manager):
    kind = AgentType.objects.get(name="naming")
    AgentInstance.objects.create(agent_type=kind, instance_id="AGT-NAMING-1", pid=1, transport="socket", connected=True)
    beat(manager, pid=1)
    row = AgentInstance.objects.get(agent_type=kind, instance_id="AGT-NAMING-1")
    # The orchestrator finds rows by transport="socket" on disconnect; a heartbeat must not change it.
    assert (row.transport, row.connected, row.pid) == ("socket", True, 1)
    assert row.last_heartbeat is not None


def test_heartbeat_for_an_unknown_type_is_not_found(agent_types, manager):
    frame = manager.call("heartbeat", {"agent_type": "nope", "instance": "X", "pid": 1})
    assert frame["status"] == "error" and frame["error"]["code"] == "NOT_FOUND"


def test_heartbeat_without_required_fields_is_a_validation_error(agent_types, manager):
    frame = manager.call("heartbeat", {"agent_type": "naming", "instance": "X"})
    assert frame["error"]["code"] == "VALIDATION_ERROR" and frame["error"]["details"]["field"] == "pid"


def test_two_live_processes_claiming_one_instance_id_are_a_collision(agent_types, manager):
    assert beat(manager, pid=100)["data"]["collision"] is False
    # pid 200's first heartbeat alone looks like a restart of pid 100; pid 100 beating
    # again after it proves both are alive at once.
    assert beat(manager, pid=200)["data"]["collision"] is False
    again = beat(manager, pid=100)
    assert again["data"]["collision"] is True
    assert {c["pid"] for c in again["data"]["claimants"]} == {100, 200}
    assert beat(manager, pid=200)["data"]["collision"] is True
    report = manager.call("check_collisions")["data"]
    assert report["count"] == 1
    assert report["collisions"][0]["instance"] == "AGT-NAMING-1"


def test_a_clean_restart_is_never_a_collision_while_the_old_heartbeat_is_recent(agent_types, manager):
    beat(manager, pid=100)  # the old process's last heartbeat, a second ago
    HeartbeatClaim.objects.filter(pid=100).update(
        last_seen=timezone.now() - timedelta(seconds=1), first_seen=timezone.now() - timedelta(hours=1)
    )
    for _ in range(3):  # the new process beats on; the old one is silent
        assert beat(manager, pid=200)["data"]["collision"] is False
    assert manager.call("check_collisions")["data"]["collisions"] == []
    picture = manager.call("list_agents")["data"]
    assert picture["collisions"] == []


def test_a_restart_seen_by_the_orchestrator_is_no_collision_but_two_live_links_are(agent_types, manager):
    from agents.manager.selectors import collisions_find

    beat(manager, pid=100)
    HeartbeatClaim.objects.filter(pid=100).update(last_seen=timezone.now() - timedelta(seconds=2))
    now = timezone.now()
    new_link = {"instance": "AGT-NAMING-1", "pid": 200, "state": "READY", "connected_at": now.timestamp() - 1}
    status = {"types": {"naming": {"instances": [new_link]}}}
    assert collisions_find(now=now, stale_after_s=30, orchestrator_status=status) == []
    # The old process still connected (alive now) beside the new one: a collision at once.
    old_link = {"instance": "AGT-NAMING-1", "pid": 100, "state": "READY", "connected_at": now.timestamp() - 3600}
    status = {"types": {"naming": {"instances": [old_link, new_link]}}}
    [found] = collisions_find(now=now, stale_after_s=30, orchestrator_status=status)
    assert sorted(c["pid"] for c in found["claimants"]) == [100, 200]


def test_a_restarted_process_stops_colliding_once_the_old_pid_is_silent(agent_types, manager):
    beat(manager, pid=100)
    HeartbeatClaim.objects.filter(pid=100).update(last_seen=timezone.now() - timedelta(seconds=31))
    assert beat(manager, pid=200)["data"]["collision"] is False
    assert manager.call("check_collisions")["data"]["collisions"] == []


def test_same_pid_on_two_hosts_is_two_claimants(agent_types, manager):
    beat(manager, pid=100, host="host-a")
    beat(manager, pid=100, host="host-b")
    assert beat(manager, pid=100, host="host-a")["data"]["collision"] is True


def test_an_instance_silent_longer_than_stale_after_is_stale(agent_types, manager):
    beat(manager, instance="AGT-NAMING-1", pid=101)
    beat(manager, instance="AGT-NAMING-2", pid=102)
    AgentInstance.objects.filter(instance_id="AGT-NAMING-2").update(
        last_heartbeat=timezone.now() - timedelta(seconds=31)
    )
    frame = manager.call("agent_status", {"agent_type": "naming"})
    assert frame["status"] == "success", frame
    stale = {i["instance"]: i["stale"] for i in frame["data"]["type"]["instances"]}
    assert stale == {"AGT-NAMING-1": False, "AGT-NAMING-2": True}


def test_concurrent_first_heartbeats_make_one_row_per_instance_and_process(agent_types):
    from agents.manager.services import instance_heartbeat

    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(pid: int) -> None:
        from django.db import connection

        try:
            start.wait()
            for _ in range(5):
                instance_heartbeat(agent_type="naming", instance_id="AGT-RACE-1", pid=pid, now=timezone.now())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(1000 + i % 2,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert AgentInstance.objects.filter(instance_id="AGT-RACE-1").count() == 1
    assert sorted(HeartbeatClaim.objects.filter(instance_id="AGT-RACE-1").values_list("pid", flat=True)) == [1000, 1001]
