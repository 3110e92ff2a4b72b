"""Agent authentication: per-type tokens (hash stored, shown once), checked on hello by a real orchestrator."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import orjson
import pytest
from django.core.management import call_command

from agents import auth
from agents.models import AgentType
from tests.hardening.conftest import LineSocket
from tests.support.system import System, wait_until

# --- the service and the command (test database) ------------------------------------------------------------


@pytest.mark.django_db
def test_rotate_stores_only_the_hash_and_returns_a_new_token_each_time():
    first = auth.agent_token_rotate(agent_type="naming")
    second = auth.agent_token_rotate(agent_type="naming")
    row = AgentType.objects.get(name="naming")
    assert first != second and len(second) >= 40
    assert row.token_hash == auth.token_hash(second) and second not in row.token_hash
    assert row.token_rotated_at is not None
    assert auth.token_matches(second, row.token_hash) and not auth.token_matches(first, row.token_hash)
    assert auth.agent_token_hashes()["naming"] == row.token_hash


@pytest.mark.django_db
def test_rotating_an_unknown_type_fails_and_clear_reopens_the_type():
    with pytest.raises(AgentType.DoesNotExist):
        auth.agent_token_rotate(agent_type="no-such-type")
    auth.agent_token_rotate(agent_type="struct")
    auth.agent_token_clear(agent_type="struct")
    assert "struct" not in auth.agent_token_hashes()


@pytest.mark.django_db
def test_the_command_prints_the_token_once_and_saves_it_0600(tmp_path, settings):
    settings.AGENTS = {**settings.AGENTS, "TOKEN_DIR": tmp_path / "tokens"}  # AGENT_TOKEN_DIR, read by settings.py
    out = io.StringIO()
    call_command("agent_token", "semantic", "--rotate", "--save", "--quiet", stdout=out)
    token = out.getvalue().strip()
    assert auth.token_matches(token, AgentType.objects.get(name="semantic").token_hash)
    path = tmp_path / "tokens" / "semantic.token"
    assert path.read_text().strip() == token
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    status = io.StringIO()
    call_command("agent_token", "semantic", stdout=status)
    assert "token set" in status.getvalue() and token not in status.getvalue()
    call_command("agent_token", "semantic", "--clear", stdout=io.StringIO())
    assert not path.exists() and AgentType.objects.get(name="semantic").token_hash == ""


def test_hello_auth_checks_the_type_token_then_the_global_one_in_constant_time(caplog):
    check = auth.HelloAuth(global_token="")
    assert check.allows("naming", None)  # no token anywhere: open (a fresh machine works)
    check.hashes = {"naming": auth.token_hash("right")}
    assert check.allows("naming", "right")
    for wrong in (None, "", "wrong", 42, ["right"], {"t": "right"}, "right\x00", "\ud800"):
        assert not check.allows("naming", wrong)
    assert "Refused an agent hello on the naming socket" in caplog.text
    assert check.allows("struct", None)  # a type without a token still accepts
    check.global_token = "shared"
    assert not check.allows("struct", None) and check.allows("struct", "shared")
    assert not check.allows("naming", "shared")  # the type's own token wins over the global one


def test_the_agent_finds_its_token_in_the_environment_or_a_private_file(tmp_path, caplog):
    env = {"AGENT_TOKEN_NAMING": "per-type", "AGENT_TOKEN": "generic", "ORCHESTRATOR_AGENT_TOKEN": "legacy"}
    assert auth.agent_token_from_environment("naming", environ=env, directory=tmp_path) == "per-type"
    assert auth.agent_token_from_environment("struct", environ=env, directory=tmp_path) == "generic"
    auth.agent_token_write_file(agent_type="struct", token="from-file", directory=tmp_path)
    assert auth.agent_token_from_environment("struct", environ={}, directory=tmp_path) == "from-file"
    os.chmod(tmp_path / "struct.token", 0o644)  # readable by others: refused, like ssh does
    assert (
        auth.agent_token_from_environment("struct", environ={"ORCHESTRATOR_AGENT_TOKEN": "legacy"}, directory=tmp_path)
        == "legacy"
    )
    assert "must be owned by this user and mode 0600" in caplog.text
    assert auth.agent_token_from_environment("semantic", environ={}, directory=tmp_path) is None
    assert auth.token_env_name("my-type.x") == "AGENT_TOKEN_MY_TYPE_X"


# --- a real orchestrator ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured(module_system_factory) -> tuple[System, str]:
    """probe has a token (rotated before the orchestrator starts); probe2 has none."""
    # Token hashes are re-read with the agent types: every second here (30 s by default).
    system: System = module_system_factory(
        start=False, orchestrator_args=("--no-redis", "--no-monitor", "--types-refresh", "1")
    )
    system.env["AGENT_TOKEN_DIR"] = str(system.root / "tokens")
    result = system.manage("agent_token", "probe", "--rotate", "--quiet")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    system.start()
    return system, token


@pytest.mark.e2e
def test_an_agent_with_the_right_token_joins_and_serves(secured):
    system, token = secured
    instance = system.start_agent("probe", "AUTH-OK-1", env={"AGENT_TOKEN_PROBE": token})
    frame = system.request("probe", "whoami", timeout_ms=30_000)
    assert frame["status"] == "success" and frame["data"]["instance"] == instance
    system.stop_agent(instance)


@pytest.mark.e2e
@pytest.mark.parametrize("hello_token", [None, "wrong", ""])
def test_a_hello_with_a_wrong_or_missing_token_is_refused_closed_and_logged(secured, hello_token):
    system, _ = secured
    hello = {"type": "hello", "agent": "probe", "instance": "IMPOSTOR", "actions": ["echo", "whoami"]}
    if hello_token is not None:
        hello["token"] = hello_token
    with LineSocket(system.type_socket("probe")) as conn:
        conn.send(orjson.dumps(hello) + b"\n")
        frame = conn.read_frame()
        assert frame is not None and frame["status"] == "error" and frame["error"]["code"] == "UNAUTHORIZED"
        assert conn.read_frame() is None  # closed
    assert "IMPOSTOR" not in {i["instance"] for i in system.instances("probe")}
    wait_until(
        lambda: "Refused an agent hello on the probe socket" in system.log_tail("orchestrator", 400),
        10,
        "the refusal in the orchestrator's log",
    )


@pytest.mark.e2e
def test_an_agent_process_with_a_wrong_token_never_becomes_ready(secured):
    system, _ = secured
    instance = system.start_agent("probe", "AUTH-BAD-1", env={"AGENT_TOKEN_PROBE": "not-the-token"}, wait=False)
    wait_until(
        lambda: (
            "UNAUTHORIZED" in system.log_tail("agent-" + instance, 200)
            or "Refused" in system.log_tail("orchestrator", 400)
        ),
        60,
        "the refusal",
    )
    assert instance not in {i["instance"] for i in system.instances("probe")}
    system.kill_agent(instance)


@pytest.mark.e2e
def test_a_client_on_a_secured_type_socket_is_still_served_as_a_client(secured):
    system, token = secured
    instance = system.start_agent("probe", "AUTH-OK-2", env={"AGENT_TOKEN_PROBE": token})
    with LineSocket(system.type_socket("probe")) as conn:
        conn.send(orjson.dumps({"id": "c1", "action": "whoami"}) + b"\n")
        frame = conn.read_frame()
    assert frame["id"] == "c1" and frame["status"] == "success" and frame["data"]["instance"] == instance
    system.stop_agent(instance)


@pytest.mark.e2e
def test_a_type_without_a_token_accepts_any_hello_and_the_token_file_is_used(secured):
    system, token = secured
    open_instance = system.start_agent("probe2", "AUTH-OPEN-1")  # no token anywhere: accepted
    assert system.request("probe2", "whoami", timeout_ms=30_000)["data"]["instance"] == open_instance
    auth.agent_token_write_file(agent_type="probe", token=token, directory=Path(system.env["AGENT_TOKEN_DIR"]))
    file_instance = system.start_agent("probe", "AUTH-FILE-1")  # reads <AGENT_TOKEN_DIR>/probe.token
    assert file_instance in {i["instance"] for i in system.instances("probe")}


@pytest.mark.e2e
def test_a_rotated_token_is_enforced_on_new_hellos_without_a_restart(secured):
    system, old_token = secured
    rotated = system.manage("agent_token", "probe2", "--rotate", "--quiet")
    assert rotated.returncode == 0, rotated.stderr
    new_token = rotated.stdout.strip()

    def refused(token: str) -> bool:
        hello = {"type": "hello", "agent": "probe2", "instance": "ROTATION-PROBE", "actions": ["echo"], "token": token}
        with LineSocket(system.type_socket("probe2")) as conn:
            conn.send(orjson.dumps(hello) + b"\n")
            frame = conn.read_frame()
        assert frame is not None, "the orchestrator closed the socket without an answer"
        if frame.get("type") == "welcome":
            return False
        return frame["error"]["code"] == "UNAUTHORIZED"

    try:
        wait_until(lambda: refused("anything"), 30, "the new probe2 token to be enforced")
        instance = system.start_agent("probe2", "AUTH-ROTATED-1", env={"AGENT_TOKEN_PROBE2": new_token})
        assert system.request("probe2", "whoami", timeout_ms=30_000)["data"]["instance"] == instance
        system.stop_agent(instance)
    finally:
        system.manage("agent_token", "probe2", "--clear")


@pytest.mark.django_db
def test_the_admin_action_rotates_and_shows_the_token_once(client, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.invalid", "pw-for-tests")
    client.force_login(admin_user)
    row = AgentType.objects.get(name="struct")
    response = client.post(
        "/admin/agents/agenttype/", {"action": "rotate_agent_token", "_selected_action": [row.pk]}, follow=True
    )
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert len(shown) == 1 and "New agent token for struct" in shown[0]
    token = shown[0].rsplit(" ", 1)[-1]
    row.refresh_from_db()
    assert auth.token_matches(token, row.token_hash)
    again = client.get("/admin/agents/agenttype/")
    assert token not in again.content.decode()  # shown once: never rendered again
