"""End to end: a real orchestrator with real agent processes (two naming, one probe), sharing one system."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shutil
import sqlite3
import stat
import subprocess

import orjson
import pytest
from django.core.management import call_command

from agents.client import AsyncClient
from tests.support.system import System

pytestmark = pytest.mark.e2e

needs_nc = pytest.mark.skipif(shutil.which("nc") is None, reason="needs nc (netcat-openbsd)")


@pytest.fixture(scope="module")
def system(module_system_factory) -> System:
    system = module_system_factory()
    system.start_agent("naming", "E2E-NAMING-1")
    system.start_agent("naming", "E2E-NAMING-2")
    system.start_agent("probe", "E2E-PROBE-1")
    return system


def nc(path, line: str, *options: str) -> list[dict]:
    out = subprocess.run(
        ["nc", *options, "-U", str(path)], input=line.encode() + b"\n", capture_output=True, timeout=60
    )
    return [orjson.loads(x) for x in out.stdout.splitlines() if x.strip()]


@needs_nc
def test_nc_smoke_test_on_the_naming_socket_prints_one_success_frame(system):
    frames = nc(
        system.type_socket("naming"), '{"action":"allocate_namespace","environment":"test","project":"centerfire"}'
    )
    assert len(frames) == 1, frames
    (frame,) = frames
    assert frame["status"] == "success", frame
    assert re.fullmatch(r"centerfire\.test\.ns\d+", frame["data"]["namespace"])
    assert frame["data"]["cid"].startswith("cid:centerfire:test:namespace:")


@needs_nc
def test_same_request_naming_the_agent_works_on_the_client_socket(system):
    # orchestrator.sock keeps idle connections open (long-lived clients live there): -N sends EOF.
    frames = nc(
        system.client_socket,
        '{"agent":"naming","action":"allocate_namespace","environment":"test","project":"ncproj"}',
        "-N",
    )
    assert len(frames) == 1 and frames[0]["status"] == "success", frames
    assert frames[0]["data"]["namespace"] == "ncproj.test.ns1"


def run_command(*args: str) -> tuple[int, str]:
    """A management command in this process (saves a Django start per call); (exit code, stdout)."""
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def test_send_command_prints_the_response_frame_and_exits_by_status(system):
    code, stdout = run_command(
        "send", "probe", "echo", "n=3", "name=abc", 'tags=["a"]', "--socket", str(system.client_socket)
    )
    assert code == 0
    frame = orjson.loads(stdout)
    assert frame["status"] == "success"
    assert frame["data"] == {"n": 3, "name": "abc", "tags": ["a"]}
    code, stdout = run_command("send", "probe", "nope", "--socket", str(system.client_socket))
    assert code == 1
    assert orjson.loads(stdout)["error"]["code"] == "UNKNOWN_ACTION"


def test_orchestrator_paths_prints_the_socket_directory(system, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": system.socket_dir}
    code, stdout = run_command("orchestrator_paths")
    assert code == 0
    assert stdout.strip() == str(system.socket_dir.resolve())


def test_socket_directory_is_0700_and_every_socket_0600(system):
    assert stat.S_IMODE(os.stat(system.socket_dir).st_mode) == 0o700
    sockets = list(system.socket_dir.glob("*.sock"))
    assert {p.name for p in sockets} >= {"orchestrator.sock", "orchestrator-naming.sock", "orchestrator-probe.sock"}
    for path in sockets:
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600, path


def test_second_orchestrator_on_a_live_directory_exits_nonzero_with_a_clear_message(system):
    second = system.manage("run_orchestrator", "--no-redis", "--no-monitor", timeout=120)
    assert second.returncode != 0
    assert "Another orchestrator" in second.stderr
    assert system.request("probe", "echo", {"still": "here"})["data"] == {"still": "here"}


def test_status_shows_both_naming_instances_ready(system):
    instances = system.instances("naming")
    assert sorted(i["instance"] for i in instances if i["state"] == "READY") == ["E2E-NAMING-1", "E2E-NAMING-2"]


def test_connected_instances_are_recorded_in_the_database(system):
    with sqlite3.connect(system.db_path) as conn:
        rows = conn.execute(
            "SELECT t.name, i.instance_id, i.connected, i.pid FROM agents_agentinstance i "
            "JOIN agents_agenttype t ON t.id = i.agent_type_id"
        ).fetchall()
    recorded = {(name, inst): (connected, pid) for name, inst, connected, pid in rows}
    assert recorded[("naming", "E2E-NAMING-1")][0] == 1
    assert recorded[("probe", "E2E-PROBE-1")][1] == system.agents["E2E-PROBE-1"].pid


def test_concurrent_allocations_through_the_orchestrator_are_distinct_and_gap_free(system):
    n = 300

    async def allocate_all() -> list[dict]:
        async with await AsyncClient.connect(system.client_socket) as client:
            return await asyncio.gather(
                *(
                    client.request(
                        "naming", "allocate_namespace", {"project": "concur", "environment": "test"}, timeout_ms=120_000
                    )
                    for _ in range(n)
                )
            )

    frames = asyncio.run(allocate_all())
    failures = [f for f in frames if f["status"] != "success"]
    assert not failures, failures[:3]
    numbers = sorted(int(f["data"]["namespace"].rsplit(".ns", 1)[1]) for f in frames)
    assert numbers == list(range(1, n + 1))
    assert len({f["data"]["cid"] for f in frames}) == n


def test_explicit_existing_namespace_collides_through_the_orchestrator(system):
    first = system.request("naming", "allocate_namespace", {"project": "coll", "environment": "test"})
    name = first["data"]["namespace"]
    again = system.request(
        "naming", "allocate_namespace", {"project": "coll", "environment": "test", "namespace": name}
    )
    assert again["error"]["code"] == "NAMESPACE_COLLISION"
    assert name in orjson.dumps(again["error"]["details"]).decode()
