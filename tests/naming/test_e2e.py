"""The naming agent as real processes behind a real orchestrator.

One system for the module: an orchestrator, two naming instances and a
struct instance (its workspace in the system's temp dir).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from agents.client import AsyncClient
from tests.support.net import exchange_line

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def system(module_system_factory):
    system = module_system_factory(start=False)
    workspace = system.root / "ws"
    system.env["STRUCT_WORKSPACE_ROOT"] = str(workspace)
    system.start()
    system.start_agent("naming", "T-NAMING-A")
    system.start_agent("naming", "T-NAMING-B")
    system.start_agent("struct", "T-STRUCT-1")
    system.workspace = workspace
    return system


def nc(path: Path, line: str, timeout: float = 60) -> dict:
    """What ``echo line | nc -U path`` prints: one response frame."""
    return json.loads(exchange_line(path, line.encode(), timeout))


def test_nc_on_the_naming_socket_allocates_a_namespace(system):
    project = f"nc{uuid.uuid4().hex[:8]}"
    frame = nc(
        system.type_socket("naming"),
        json.dumps({"action": "allocate_namespace", "environment": "test", "project": project}),
    )
    assert frame["status"] == "success", frame
    assert frame["data"]["namespace"] == f"{project}.test.ns1"
    assert frame["data"]["cid"].startswith(f"cid:{project}:test:namespace:")


def test_pipelined_allocations_across_two_instances_are_distinct_and_gap_free(system):
    project = f"pl{uuid.uuid4().hex[:8]}"

    async def run() -> list[dict]:
        async with await AsyncClient.connect(system.client_socket) as client:
            return await asyncio.gather(
                *(
                    client.request(
                        "naming", "allocate_namespace", {"environment": "dev", "project": project}, timeout_ms=120_000
                    )
                    for _ in range(200)
                )
            )

    frames = asyncio.run(run())
    assert all(f["status"] == "success" for f in frames), [f for f in frames if f["status"] != "success"][:3]
    assert sorted(f["data"]["sequence"] for f in frames) == list(range(1, 201))
    listing = system.request("naming", "list_namespaces", {"project": project, "limit": 500})
    assert listing["data"]["total"] == 200
    # Both processes allocated, so the numbers were contended across processes.
    with sqlite3.connect(system.db_path) as db:
        instances = {
            row[0]
            for row in db.execute("SELECT DISTINCT allocated_by FROM naming_namespace WHERE project = ?", (project,))
        }
    assert instances == {"T-NAMING-A", "T-NAMING-B"}


def test_duplicate_idempotency_keys_in_flight_together_get_one_allocation(system):
    project = f"ik{uuid.uuid4().hex[:8]}"

    async def run() -> list[dict]:
        async with await AsyncClient.connect(system.client_socket) as client:
            return await asyncio.gather(
                *(
                    client.request(
                        "naming",
                        "allocate_namespace",
                        {"environment": "prod", "project": project},
                        idempotency_key=f"dup-{project}",
                        timeout_ms=120_000,
                    )
                    for _ in range(20)
                )
            )

    frames = asyncio.run(run())
    assert {(f["data"]["namespace"], f["data"]["cid"]) for f in frames} == {
        (frames[0]["data"]["namespace"], frames[0]["data"]["cid"])
    }
    assert frames[0]["data"]["namespace"] == f"{project}.prod.ns1"


def test_scaffolded_capability_gets_a_folder_from_struct_through_the_orchestrator(system):
    frame = system.request(
        "naming",
        "allocate_capability",
        {"domain": "e2e", "name": f"Folder {uuid.uuid4().hex[:6]}", "scaffold": True, "purpose": "end to end"},
        timeout_ms=120_000,
    )
    assert frame["status"] == "success", frame
    path = Path(frame["data"]["path"])
    assert path.parent == system.workspace.resolve() and path.name == frame["data"]["directory"]
    assert frame["data"]["cid"] in (path / "spec.yaml").read_text()
