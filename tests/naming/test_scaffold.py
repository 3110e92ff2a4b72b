"""allocate_capability with scaffold: true asks the real struct agent for the folder.

The naming agent's ``caller`` (set by the socket runtime to reach the
orchestrator) is wired here straight to a real StructAgent's ``handle``, so
the struct code, its database rows and its files on disk are all real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agents import protocol
from agents.naming.models import Capability
from agents.runtime.base import close_worker_connections
from agents.struct.agent import StructAgent

from .test_agent import err, ok

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def wired(make_agent, tmp_path):
    naming = make_agent()
    struct = StructAgent("STRUCT-TEST", {"workspace_root": str(tmp_path)})
    calls: list[tuple[str, str]] = []

    async def caller(agent: str, action: str, data: dict, timeout_ms: float | None = None) -> dict:
        calls.append((agent, action))
        request = protocol.normalize_request({"agent": agent, "action": action, "data": data})
        return await struct.handle(request)

    naming.agent.caller = caller
    naming.struct = struct
    naming.calls = calls
    naming.root = tmp_path
    yield naming
    if struct._executor is not None:
        close_worker_connections(struct._executor)
    naming.loop.run_until_complete(struct.teardown())


def struct_call(wired, action: str, data: dict) -> dict:
    return wired.loop.run_until_complete(
        wired.struct.handle(protocol.normalize_request({"agent": "struct", "action": action, "data": data}))
    )


def test_scaffold_creates_the_folder_and_the_reply_has_its_path(wired):
    data = ok(
        wired.handle(
            {
                "action": "allocate_capability",
                "data": {"domain": "auth", "name": "User Auth", "purpose": "logins", "scaffold": True},
            }
        )
    )
    path = Path(data["path"])
    assert path.name == data["directory"] and path.parent == wired.root
    assert (path / "spec.yaml").read_text().count(data["cid"]) == 1
    assert Capability.objects.get(capability_id=data["capability_id"]).path == data["path"]
    assert ("struct", "create_structure") in wired.calls


def test_scaffold_with_unknown_template_is_refused_before_a_number_is_spent(wired):
    error = err(
        wired.handle(
            {
                "action": "allocate_capability",
                "data": {"domain": "auth", "name": "x", "scaffold": True, "template": "nope"},
            }
        ),
        "VALIDATION_ERROR",
    )
    assert "python-module" in error["details"]["known"]
    assert not Capability.objects.exists()
    assert (
        ok(
            wired.handle(
                {
                    "action": "allocate_capability",
                    "data": {"domain": "auth", "name": "x", "scaffold": True, "template": "python-module"},
                }
            )
        )["capability_id"]
        == "CAP-AUTH-1"
    )


def test_scaffold_without_a_route_to_struct_allocates_nothing(make_agent):
    naming = make_agent()  # no caller: like an agent not connected to an orchestrator
    error = err(
        naming.handle({"action": "allocate_capability", "data": {"domain": "auth", "name": "x", "scaffold": True}}),
        "AGENT_UNAVAILABLE",
    )
    assert "nothing was allocated" in error["message"]
    assert not Capability.objects.exists()


def test_failed_scaffold_reports_the_capability_and_a_retry_with_the_key_finishes_it(wired):
    # Another structure already holds the slug, so struct refuses the folder.
    blocker = ok(struct_call(wired, "create_structure", {"name": "User Auth"}))
    request = {
        "action": "allocate_capability",
        "idempotency_key": "cap-1",
        "data": {"domain": "auth", "name": "User Auth", "scaffold": True},
    }
    error = err(wired.handle(request), "NAMESPACE_COLLISION")
    capability = error["details"]["capability"]
    assert capability["capability_id"] == "CAP-AUTH-1" and capability["path"] is None
    assert error["details"]["struct_error"]["details"]["existing_path"] == blocker["path"]

    ok(struct_call(wired, "remove_structure", {"cid": blocker["cid"]}))
    data = ok(wired.handle(request))
    assert data["capability_id"] == "CAP-AUTH-1" and data["cid"] == capability["cid"]
    assert Path(data["path"]).is_dir()
    assert Capability.objects.count() == 1


def test_replay_of_a_scaffolded_capability_does_not_call_struct_again(wired):
    request = {
        "action": "allocate_capability",
        "idempotency_key": "cap-2",
        "data": {"domain": "data", "name": "Ingest", "scaffold": True},
    }
    first = ok(wired.handle(request))
    calls_before = len(wired.calls)
    assert ok(wired.handle(request)) == first
    assert len(wired.calls) == calls_before
