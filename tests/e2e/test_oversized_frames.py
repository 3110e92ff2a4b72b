"""An answer over the frame limit costs that one request, never the connection it shares.

A real orchestrator process with a 64 KiB limit; agents are a real ``run_agent``
process and, for the orchestrator's own guard, a hand-written old agent on the
type socket that answers with a line over the limit anyway.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agents.client import Client
from tests.support.system import System, wait_until

pytestmark = pytest.mark.e2e

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def system() -> Iterator[System]:
    system = System(env={"ORCHESTRATOR_MAX_FRAME_BYTES": str(LIMIT)})
    try:
        system.start()
        yield system
    finally:
        system.stop()


class OldAgent(threading.Thread):
    """An agent speaking the wire protocol by hand: it answers ``big`` with a line over the limit."""

    def __init__(self, system: System, instance: str) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(system.type_socket("probe")))
        hello = {
            "type": "hello",
            "agent": "probe",
            "instance": instance,
            "actions": ["big", "whoami"],
            "max_inflight": 16,
        }
        self.sock.sendall(json.dumps(hello).encode() + b"\n")
        self.file = self.sock.makefile("rb")
        assert json.loads(self.file.readline())["type"] == "welcome"
        self.instance = instance

    def run(self) -> None:
        try:
            for line in self.file:
                frame = json.loads(line)
                if "action" not in frame:
                    continue
                if frame["action"] == "big":
                    # Our runtime writes the id first; so does this one.
                    answer = {"id": frame["id"], "status": "success", "data": {"pad": "x" * (LIMIT * 2)}}
                else:
                    answer = {"id": frame["id"], "status": "success", "data": {"instance": self.instance}}
                self.sock.sendall(json.dumps(answer).encode() + b"\n")
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # the reader thread's file holds the descriptor open
        except OSError:
            pass
        self.sock.close()


def test_an_oversized_agent_answer_fails_that_request_only_and_keeps_the_link(system):
    agent = OldAgent(system, "OLD-PROBE-1")
    agent.start()
    try:
        system.wait_instance("probe", "OLD-PROBE-1")
        connected_at = [i["connected_at"] for i in system.instances("probe")]
        with Client(system.client_socket) as client:
            big = client.send({"id": "big-1", "agent": "probe", "action": "big", "timeout_ms": 10_000})
            after = client.send({"id": "after-1", "agent": "probe", "action": "whoami", "timeout_ms": 10_000})
        assert big["status"] == "error" and big["error"]["code"] == "MESSAGE_TOO_LARGE", big
        assert big["id"] == "big-1" and big["error"]["details"]["max_bytes"] == LIMIT
        assert big["error"]["details"]["bytes"] > LIMIT
        assert after["status"] == "success" and after["data"]["instance"] == "OLD-PROBE-1", after
        # The same link: never dropped and re-made.
        assert [i["connected_at"] for i in system.instances("probe")] == connected_at
        assert f"over the {LIMIT}-byte limit" in system.log_tail("orchestrator", 200)
    finally:
        agent.close()
        system.wait_instance("probe", "OLD-PROBE-1", present=False)


def test_requests_in_flight_on_the_link_survive_an_oversized_answer(system):
    agent = OldAgent(system, "OLD-PROBE-2")
    agent.start()
    try:
        system.wait_instance("probe", "OLD-PROBE-2")

        def one(i: int) -> dict[str, Any]:
            action = "big" if i % 5 == 0 else "whoami"
            with Client(system.client_socket) as client:
                return client.send({"id": f"r{i}", "agent": "probe", "action": action, "timeout_ms": 10_000})

        with ThreadPoolExecutor(10) as pool:
            frames = list(pool.map(one, range(40)))
        codes = {f["id"]: f.get("error", {}).get("code", "OK") for f in frames}
        assert codes == {f"r{i}": ("MESSAGE_TOO_LARGE" if i % 5 == 0 else "OK") for i in range(40)}
    finally:
        agent.close()
        system.wait_instance("probe", "OLD-PROBE-2", present=False)


def test_the_agent_runtime_answers_message_too_large_instead_of_sending_an_oversized_answer(system):
    instance = system.start_agent("probe", "RT-PROBE-1")
    try:
        connected_at = [i["connected_at"] for i in system.instances("probe")]

        def one(action: str, data: dict[str, Any]) -> dict[str, Any]:
            with Client(system.client_socket) as client:
                return client.request("probe", action, data, timeout_ms=10_000)

        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(one, "slow", {"ms": 500})
            big = one("big", {"bytes": LIMIT + 10})
            fits = one("big", {"bytes": LIMIT - 1000})
        assert big["status"] == "error" and big["error"]["code"] == "MESSAGE_TOO_LARGE", big
        assert fits["status"] == "success" and len(fits["data"]["pad"]) == LIMIT - 1000
        assert slow.result()["status"] == "success"
        assert [i["connected_at"] for i in system.instances("probe")] == connected_at
        wait_until(
            lambda: f"over the {LIMIT}-byte frame limit" in system.log_tail("agent-" + instance, 200),
            10,
            "the agent's log line",
        )
    finally:
        system.stop_agent(instance)


def test_an_oversized_request_on_the_client_socket_is_answered_with_its_id(system):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(str(system.client_socket))
        sock.sendall(
            b'{"id": "huge-1", "agent": "probe", "action": "whoami", "data": {"x": "' + b"y" * (LIMIT + 10) + b'"}}\n'
        )
        answer = json.loads(sock.makefile("rb").readline())
    assert answer["error"]["code"] == "MESSAGE_TOO_LARGE" and answer["id"] == "huge-1"


def test_an_action_that_is_not_a_string_is_reported_as_such_not_as_missing(system):
    with Client(system.client_socket) as client:
        answer = client.send({"id": "a-123", "agent": "probe", "action": 123})
    assert answer["error"]["code"] == "INVALID_REQUEST" and answer["id"] == "a-123"
    assert answer["error"]["message"] == "'action' must be a non-empty string"
    assert answer["error"]["details"] == {"field": "action", "got": "int"}


def test_an_agents_own_oversized_request_is_answered_with_its_id_and_the_link_kept(system):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(system.type_socket("probe")))
        reader = sock.makefile("rb")
        hello = {"type": "hello", "agent": "probe", "instance": "OLD-PROBE-3", "actions": ["whoami"]}
        sock.sendall(json.dumps(hello).encode() + b"\n")
        assert json.loads(reader.readline())["type"] == "welcome"
        call = {"id": "call-big", "agent": "probe", "action": "whoami", "data": {"pad": "x" * (LIMIT + 10)}}
        sock.sendall(json.dumps(call).encode() + b"\n" + b'{"type": "ping"}\n')
        frames = [json.loads(reader.readline()) for _ in range(2)]  # the skipped line is answered after the chunk
        answer = next(f for f in frames if f.get("id") == "call-big")
        assert answer["error"]["code"] == "MESSAGE_TOO_LARGE"
        assert {"type": "pong"} in frames  # the same link, still served
    finally:
        sock.close()
