"""Real processes: the orchestrator falls back to Redis, and clients reach agents with no orchestrator."""

from __future__ import annotations

import signal
import threading
import time

import orjson
import pytest

from agents.redis_client import redis_request
from agents.redis_keys import CONSUMER_GROUP, RedisKeys
from tests.e2e.redis_helpers import SHARED_REDIS_URL, redis_for, wait_listening
from tests.support.system import wait_until

pytestmark = pytest.mark.e2e


def test_no_socket_instance_falls_back_to_redis_then_socket_again_when_one_connects(redis_system):
    system = redis_system()
    redis_only = system.start_agent("probe", transport="redis", wait=False)
    wait_listening(system, "probe", redis_only)

    via_redis = system.request("probe", "whoami", {}, timeout_ms=20_000)
    assert via_redis["status"] == "success", via_redis
    assert via_redis["transport"] == "redis" and via_redis["data"]["instance"] == redis_only

    socket_instance = system.start_agent("probe", transport="socket")
    via_socket = system.request("probe", "whoami", {}, timeout_ms=20_000)
    assert via_socket["transport"] == "socket" and via_socket["data"]["instance"] == socket_instance


def test_no_agent_on_socket_or_redis_is_agent_unavailable_promptly(redis_system):
    system = redis_system()
    started = time.monotonic()
    answer = system.request("probe2", "whoami", {}, timeout_ms=30_000)
    took = time.monotonic() - started
    assert answer["status"] == "error" and answer["error"]["code"] == "AGENT_UNAVAILABLE"
    assert took < 5  # not the 30 s timeout


def test_with_the_orchestrator_down_stream_requests_are_answered_and_backlog_waits_for_an_agent(redis_system):
    system = redis_system(env={"REDIS_CLAIM_IDLE_MS": "1000"})
    first = system.start_agent("probe", transport="both")
    wait_listening(system, "probe", first)
    system.stop_orchestrator()
    assert not system.client_socket.exists() and not system.type_socket("probe").exists()

    direct = redis_request(
        "probe", "whoami", {}, timeout_ms=20_000, prefix=system.redis_prefix, redis_url=SHARED_REDIS_URL
    )
    assert direct["status"] == "success" and direct["data"]["instance"] == first
    assert direct["transport"] == "redis"

    # One request is in the agent's hands when it dies; five more arrive while no agent runs.
    answers: dict[str, dict] = {}

    def ask(tag: str, data: dict, action: str = "slow") -> None:
        answers[tag] = redis_request(
            "probe",
            action,
            data,
            timeout_ms=60_000,
            prefix=system.redis_prefix,
            redis_url=SHARED_REDIS_URL,
            idempotency_key=tag,
        )

    threads = [threading.Thread(target=ask, args=("in-flight", {"ms": 3000}))]
    threads[0].start()
    client = redis_for()
    stream = RedisKeys(system.redis_prefix).stream("probe")
    wait_until(lambda: client.xpending(stream, CONSUMER_GROUP)["pending"] == 1, 30, "the agent to take the request")
    system.kill_agent(first, signal.SIGKILL)
    for n in range(5):
        threads.append(threading.Thread(target=ask, args=(f"backlog-{n}", {"ms": 0})))
        threads[-1].start()
    wait_until(lambda: client.xlen(stream) >= 6, 30, "the backlog to be in the stream")
    time.sleep(1.0)
    assert answers == {}  # nobody is listening: they wait in the stream

    second = system.start_agent("probe", transport="redis", wait=False)
    for thread in threads:
        thread.join(90)
    client.close()
    assert sorted(answers) == ["backlog-0", "backlog-1", "backlog-2", "backlog-3", "backlog-4", "in-flight"]
    for tag, answer in answers.items():
        assert answer["status"] == "success" and answer["data"]["instance"] == second, (tag, answer)


def test_stream_requests_survive_in_redis_until_answered_even_across_agent_restarts(redis_system):
    """Entries stay in the stream (not in a process) until an answer is written: XLEN shows the backlog."""
    system = redis_system()
    client = redis_for()
    stream = RedisKeys(system.redis_prefix).stream("probe")
    frame = {"id": "raw-1", "agent": "probe", "action": "whoami", "data": {}}
    reply = RedisKeys(system.redis_prefix).reply_list("raw-1")
    client.xadd(stream, {"frame": orjson.dumps(frame), "reply_to": reply, "reply_kind": "list"})
    assert client.xlen(stream) == 1
    instance = system.start_agent("probe", transport="redis", wait=False)
    got = client.blpop([reply], timeout=60)
    assert got is not None
    answer = orjson.loads(got[1])
    assert answer["id"] == "raw-1" and answer["data"]["instance"] == instance
    assert client.xlen(stream) == 0
    client.close()


def test_agent_unavailable_from_the_fallback_names_no_transport_when_nothing_went_through_redis(redis_system):
    system = redis_system()
    answer = system.request("probe2", "whoami", {}, timeout_ms=30_000)
    assert answer["error"]["code"] == "AGENT_UNAVAILABLE"
    assert "transport" not in answer, answer  # it said "redis": nothing was sent there
    assert answer["error"]["details"]["transports_tried"] == ["socket", "redis"]
