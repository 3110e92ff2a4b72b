"""start/stop/restart_agent against a real supervisord, and who may use them."""

from __future__ import annotations

import pytest

from agents.manager.control import process_control
from agents.manager.services import control_token_create, control_tokens_revoke_all
from agents.manager.supervisor import SupervisorClient

pytestmark = pytest.mark.django_db(transaction=True)


def pids(sandbox, prefix: str) -> dict[str, int]:
    return {p.full_name: p.pid for p in sandbox.client().all_processes() if p.name.startswith(prefix)}


def test_restart_without_a_token_is_unauthorized_and_changes_nothing(agent_types, sandbox, controlling_manager):
    control_token_create()
    before = pids(sandbox, "naming")
    frame = controlling_manager.call("restart_agent", {"name": "naming"})
    assert frame["status"] == "error" and frame["error"]["code"] == "UNAUTHORIZED"
    assert pids(sandbox, "naming") == before


def test_restart_with_a_wrong_token_is_unauthorized(agent_types, sandbox, controlling_manager):
    control_token_create()
    frame = controlling_manager.call("restart_agent", {"name": "naming", "token": "mgr_not-the-token"})
    assert frame["error"]["code"] == "UNAUTHORIZED"


def test_no_configured_token_means_nobody_is_authorised(agent_types, sandbox, controlling_manager):
    control_tokens_revoke_all()
    frame = controlling_manager.call("stop_agent", {"name": "naming-1", "token": ""})
    assert frame["error"]["code"] == "UNAUTHORIZED"
    assert "manager_token" in frame["error"]["message"]


def test_restart_by_type_gives_every_process_of_it_a_new_pid(agent_types, sandbox, controlling_manager):
    token = control_token_create()
    before = pids(sandbox, "naming")
    frame = controlling_manager.call("restart_agent", {"name": "naming", "token": token})
    assert frame["status"] == "success", frame
    results = {p["name"]: p for p in frame["data"]["processes"]}
    assert set(results) == {"agents:naming-1", "agents:naming-2"}
    after = pids(sandbox, "naming")
    for name in results:
        assert results[name]["result"] == "restarted" and results[name]["state"] == "RUNNING"
        assert after[name] != before[name] and results[name]["pid"] == after[name]


def test_stop_then_start_one_process_by_its_name(agent_types, sandbox, controlling_manager):
    token = control_token_create()
    stopped = controlling_manager.call("stop_agent", {"name": "naming-2", "token": token})
    assert stopped["data"]["processes"] == [
        {
            "name": "agents:naming-2",
            "result": "stopped",
            "pid_before": stopped["data"]["processes"][0]["pid_before"],
            "pid": None,
            "state": "STOPPED",
        }
    ]
    assert sandbox.client().process("agents:naming-1").state == "RUNNING"  # its sibling is untouched
    again = controlling_manager.call("stop_agent", {"name": "agents:naming-2", "token": token})
    assert again["data"]["processes"][0]["result"] == "already stopped"
    started = controlling_manager.call("start_agent", {"name": "agents:naming-2", "token": token})
    assert started["data"]["processes"][0]["result"] == "started"
    assert sandbox.client().process("agents:naming-2").state == "RUNNING"


def test_processes_outside_the_agents_group_are_refused(agent_types, sandbox, controlling_manager):
    token = control_token_create()
    before = sandbox.client().process("web").pid
    frame = controlling_manager.call("stop_agent", {"name": "web", "token": token})
    assert frame["error"]["code"] == "VALIDATION_ERROR"
    assert sandbox.client().process("web").pid == before


def test_an_unknown_process_is_not_found(agent_types, sandbox, controlling_manager):
    frame = controlling_manager.call("restart_agent", {"name": "nonexistent", "token": control_token_create()})
    assert frame["error"]["code"] == "NOT_FOUND"
    assert "agents:naming-1" in frame["error"]["details"]["processes"]


def test_supervisor_not_running_is_agent_unavailable(agent_types, manager):
    frame = manager.call("restart_agent", {"name": "naming", "token": control_token_create()})
    assert frame["error"]["code"] == "AGENT_UNAVAILABLE"
    assert frame["error"]["details"]["supervisor_socket"].endswith("absent.sock")


def test_the_manager_refuses_to_stop_itself_but_restarts_itself_by_signal(sandbox):
    client = SupervisorClient(sandbox.socket)
    own = client.process("agents:manager")
    from agents.protocol import ProtocolError

    with pytest.raises(ProtocolError) as refused:
        process_control(operation="stop", name="manager", client=client, groups=("agents",), self_pid=own.pid)
    assert refused.value.code == "CONFLICT"
    result = process_control(operation="restart", name="manager", client=client, groups=("agents",), self_pid=own.pid)
    assert result["processes"][0]["result"] == "restarting"
    # autorestart brings it back under a new pid once the TERM has landed.
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = client.process("agents:manager")
        if now.state == "RUNNING" and now.pid != own.pid:
            break
        time.sleep(0.1)
    assert now.state == "RUNNING" and now.pid != own.pid


def test_restarting_the_group_restarts_every_agent_process_at_once(agent_types, sandbox, controlling_manager):
    token = control_token_create()
    before = {p.full_name: p.pid for p in sandbox.client().all_processes() if p.group == "agents"}
    frame = controlling_manager.call("restart_agent", {"name": "agents:*", "token": token})
    assert frame["status"] == "success", frame
    after = {p.full_name: p.pid for p in sandbox.client().all_processes() if p.group == "agents"}
    assert {r["name"] for r in frame["data"]["processes"]} == set(before)
    assert all(after[name] != before[name] for name in before)


def test_a_process_that_cannot_start_is_reported_as_an_error(sandbox):
    from agents.protocol import ProtocolError

    with pytest.raises(ProtocolError) as failed:
        process_control(
            operation="start", name="broken", client=SupervisorClient(sandbox.socket), groups=("agents", "broken")
        )
    assert failed.value.code == "INTERNAL_ERROR"
    [result] = failed.value.details["processes"]
    assert result["name"] == "broken" and result["state"] in ("FATAL", "BACKOFF", "EXITED")
