"""Real processes: callers of killed agents get a timely, true answer (issue 14, items 2 and 3).

Each test prints the seconds a caller waited (``-s`` shows them); docs/hardening.md quotes them.
"""
from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from agents.redis_keys import CONSUMER_GROUP, RedisKeys
from tests.e2e.redis_helpers import delete_prefix, redis_for, wait_listening
from tests.support.system import System, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def redis_system(system_factory):
    systems: list[System] = []

    def make(**kwargs) -> System:
        kwargs.setdefault("orchestrator_args", ("--no-monitor",))
        system = system_factory(**kwargs)
        systems.append(system)
        return system

    yield make
    for system in systems:
        delete_prefix(system)


def _timed(system: System, *args, **kwargs) -> tuple[dict, float]:
    started = time.monotonic()
    answer = system.request(*args, **kwargs)
    return answer, time.monotonic() - started


def test_requests_for_a_type_whose_agent_was_just_killed_get_agent_unavailable_at_once(redis_system):
    system = redis_system()
    instance = system.start_agent("probe", transport="both")
    wait_listening(system, "probe", instance)
    system.kill_agent(instance, signal.SIGKILL)
    # Its liveness entry on Redis has up to a second left: the orchestrator saw the socket drop
    # without a goodbye and does not count it as a listener any more.
    answer, took = _timed(system, "probe", "whoami", {}, timeout_ms=20_000)
    print(f"\nkilled agent: AGENT_UNAVAILABLE after {took:.2f} s (timeout 20 s)")
    assert answer["status"] == "error" and answer["error"]["code"] == "AGENT_UNAVAILABLE", answer
    assert took < 10  # not the 20 s timeout


def test_a_request_held_by_a_killed_redis_listener_is_answered_in_seconds(redis_system):
    system = redis_system()
    instance = system.start_agent("probe", transport="redis", wait=False)
    wait_listening(system, "probe", instance)
    client = redis_for()
    stream = RedisKeys(system.redis_prefix).stream("probe")
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(_timed, system, "probe", "slow", {"ms": 60_000}, timeout_ms=30_000)
        wait_until(lambda: client.xpending(stream, CONSUMER_GROUP)["pending"] == 1, 60, "the agent to take it")
        killed_at = time.monotonic()
        system.kill_agent(instance, signal.SIGKILL)
        answer, _ = waiting.result(timeout=60)
    took = time.monotonic() - killed_at
    pending = client.xpending(stream, CONSUMER_GROUP)["pending"]
    client.close()
    print(f"\nkilled Redis listener: {answer['error']['code']} {took:.2f} s after the kill (timeout 30 s)")
    assert answer["status"] == "error" and answer["error"]["code"] == "AGENT_DISCONNECTED", answer
    assert answer["error"]["details"]["may_have_run"] is True
    assert took < 10  # its liveness lapses within about a second; not the 30 s timeout
    assert pending == 0  # withdrawn: no later instance reclaims and runs it


def test_a_keyed_retry_after_the_agent_was_killed_runs_once_within_seconds(redis_system):
    system = redis_system()
    first = system.start_agent("probe", transport="socket")
    key = f"retry-{time.monotonic_ns()}"
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(system.request, "probe", "slow", {"ms": 2000}, timeout_ms=20_000,
                              idempotency_key=key)
        wait_until(lambda: system.instances("probe")[0]["inflight"] == 1, 60, "the request in flight")
        time.sleep(0.5)  # the agent has claimed the key
        system.kill_agent(first, signal.SIGKILL)
        lost = waiting.result(timeout=60)
    assert lost["error"]["code"] == "AGENT_DISCONNECTED" and lost["error"]["details"]["may_have_run"] is True
    second = system.start_agent("probe", transport="socket")
    retry, took = _timed(system, "probe", "slow", {"ms": 2000}, timeout_ms=20_000, idempotency_key=key)
    print(f"\nkeyed retry after a kill: answered in {took:.2f} s (the run itself takes 2 s)")
    assert retry["status"] == "success", retry
    assert retry["data"]["instance"] == second and "replayed" not in retry
    assert took < 10  # not the claim's 30 s lifetime nor the 20 s timeout
