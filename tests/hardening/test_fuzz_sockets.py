"""Hostile bytes at the orchestrator's sockets (real processes): structured errors, no crash, nothing lost.

Each example opens a connection, sends one hostile line and then a normal
request (the sentinel) and reads until the sentinel's answer. Every frame in
between must be a well-formed answer or control frame; the connection may be
closed only right after an error frame (too large, a refused hello). After
each example the orchestrator and the agents are still running, and at the
end the rows stored before are unchanged.
"""

from __future__ import annotations

import uuid

import orjson
import pytest
from hypothesis import example, given

from tests.hardening.conftest import LineSocket, read_until
from tests.hardening.fuzz import FUZZ, check_frame, hostile_lines
from tests.support.system import System

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _probe_socket(system: System, path, line: bytes, sentinel: dict) -> None:
    with LineSocket(path) as conn:
        conn.send(line + b"\n" + orjson.dumps(sentinel) + b"\n")
        frames, closed = read_until(conn, sentinel["id"])
    for frame in frames:
        check_frame(frame)
    if closed:
        assert frames and frames[-1]["status"] == "error", f"closed without a structured error: {frames}"
    else:
        answer = frames[-1]
        assert answer["status"] == "success", answer
    assert system.orchestrator is not None and system.orchestrator.poll() is None, system.log_tail("orchestrator")
    assert all(p.poll() is None for p in system.agents.values()), system.all_logs()


def _still_serves(system: System) -> None:
    frame = system.request("probe", "echo", {"after": "fuzz"}, timeout_ms=30_000)
    assert frame["status"] == "success" and frame["data"] == {"after": "fuzz"}, frame
    frame = system.request(
        "naming", "validate_name", {"name": "centerfire.test.ns1", "kind": "namespace"}, timeout_ms=30_000
    )
    assert frame["status"] in ("success", "error") and frame.get("error", {}).get("code") != "INTERNAL_ERROR", frame


def test_hostile_lines_on_the_client_socket_get_structured_errors(fuzz_system, snapshot_guard):
    @FUZZ
    @given(line=hostile_lines(agent="probe"))
    @example(line=b"\xff\xfe\x00garbage")
    @example(line=b'{"id":"x","agent":"probe","action":"echo","data":{"s":"\\ud800"}}')
    @example(line=b"[" * 100_000)
    def prop(line: bytes) -> None:
        sentinel = {"id": f"sentinel-{uuid.uuid4().hex}", "agent": "probe", "action": "whoami"}
        _probe_socket(fuzz_system, fuzz_system.client_socket, line, sentinel)

    prop()
    _still_serves(fuzz_system)


def test_hostile_lines_on_an_agent_type_socket_never_join_as_an_agent(fuzz_system, snapshot_guard):
    before = {i["instance"] for i in fuzz_system.instances("probe")}

    @FUZZ
    @given(line=hostile_lines(agent=None))
    @example(line=b'{"type":"hello","agent":"probe","instance":"IMPOSTOR","actions":["echo"]}')
    @example(line=b'{"type":"hello","agent":"probe","instance":"IMPOSTOR","actions":["echo"],"token":"guess"}')
    @example(line=b'{"id":1,"status":"success","data":{"forged":true}}')
    def prop(line: bytes) -> None:
        sentinel = {"id": f"sentinel-{uuid.uuid4().hex}", "action": "whoami"}
        _probe_socket(fuzz_system, fuzz_system.type_socket("probe"), line, sentinel)

    prop()
    assert {i["instance"] for i in fuzz_system.instances("probe")} == before
    _still_serves(fuzz_system)


def test_a_frame_over_the_size_limit_is_refused_and_closed_and_the_orchestrator_stays_up(fuzz_system):
    with LineSocket(fuzz_system.client_socket) as conn:
        conn.send(b'{"agent":"probe","action":"echo","data":{"x":"' + b"y" * (1024 * 1024 + 10))
        frame = conn.read_frame()
        assert frame is not None and frame["error"]["code"] == "MESSAGE_TOO_LARGE"
        assert conn.read_frame() is None  # closed
    _still_serves(fuzz_system)
