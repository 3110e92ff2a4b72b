"""Real processes with a private redis-server that the test kills and restarts.

The shared Redis is never stopped: the system under test is pointed at a
redis-server of this test's own, on a free port.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.redis_helpers import wait_listening
from tests.support.system import wait_until

pytestmark = pytest.mark.e2e


def test_redis_down_leaves_socket_traffic_alone_and_fallback_fails_fast_then_all_resumes(system_factory, private_redis):
    system = system_factory(orchestrator_args=("--no-monitor",), env={"REDIS_URL": private_redis.url})
    both = system.start_agent("probe", transport="both")
    redis_only = system.start_agent("probe2", transport="redis", wait=False)
    wait_listening(system, "probe", both, private_redis.url)
    wait_listening(system, "probe2", redis_only, private_redis.url)
    assert system.request("probe2", "whoami", {}, timeout_ms=20_000)["transport"] == "redis"

    private_redis.stop()

    # Socket traffic: unaffected, including requests the idempotency layer would remember (it fails open).
    started = time.monotonic()
    with system.client() as client:
        answers = [
            client.request(
                "probe", "slow", {"ms": 0}, timeout_ms=20_000, idempotency_key=f"down-{n}" if n % 2 else None
            )
            for n in range(40)
        ]
    assert [a["status"] for a in answers] == ["success"] * 40, answers[:3]
    assert {a["transport"] for a in answers} == {"socket"}
    assert time.monotonic() - started < 30

    # The fallback answers at once instead of waiting for the 30 s timeout.
    timings = []
    for _ in range(3):
        started = time.monotonic()
        answer = system.request("probe2", "whoami", {}, timeout_ms=30_000)
        timings.append(time.monotonic() - started)
        assert answer["error"]["code"] == "AGENT_UNAVAILABLE", answer
    assert max(timings) < 5

    # Agents log the loss once, keep retrying, and resume when Redis returns (empty, on the same port).
    time.sleep(2.0)
    private_redis.start()
    wait_listening(system, "probe2", redis_only, private_redis.url)
    wait_until(
        lambda: system.request("probe2", "whoami", {}, timeout_ms=10_000).get("status") == "success",
        60,
        "the Redis-only agent to answer again through the fallback",
        on_fail=lambda: system.log_tail("agent-" + redis_only) + system.log_tail("orchestrator"),
    )
    assert system.agents[both].poll() is None and system.agents[redis_only].poll() is None
    for instance in (both, redis_only):
        log_path = system.root / f"agent-{instance}.log"
        wait_until(
            lambda log_path=log_path: "Redis connection restored" in log_path.read_text(),
            30,
            f"{instance} to log that it listens again",
            on_fail=lambda instance=instance: system.log_tail("agent-" + instance),
        )
        log = log_path.read_text()
        assert log.count("Redis connection lost") == 1, system.log_tail("agent-" + instance)
        assert log.count("Redis connection restored") == 1, system.log_tail("agent-" + instance)
