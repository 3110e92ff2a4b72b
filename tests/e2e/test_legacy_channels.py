"""Two deployments on one Redis server: legacy pub/sub requests are answered by one of them only.

Each deployment is a real System (its own key prefix) with a real probe agent on
the Redis transport. Pub/sub ignores key prefixes and database numbers: with the
same legacy channel names both agents execute each request, and both warn at
start; with a channel prefix each (REDIS_LEGACY_CHANNEL_PREFIX) a request
reaches its own deployment only.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import redis

from tests.support.system import System, wait_until

pytestmark = pytest.mark.e2e

REDIS_URL = "redis://127.0.0.1:6379/0"
WARNING = "do not belong to this deployment"


@pytest.fixture
def conn() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    yield client
    client.close()


def two_deployments(channel_prefixes: tuple[str, str]) -> list[System]:
    systems = []
    for i, channel_prefix in enumerate(channel_prefixes):
        system = System(env={"REDIS_LEGACY_CHANNEL_PREFIX": channel_prefix})
        systems.append(system)
        system.start_agent("probe", f"DEPLOY{i}-PROBE", transport="redis", wait=False)
    return systems


def ask(conn: redis.Redis, channel_prefix: str, rid: str, settle_s: float = 2.0) -> list[dict[str, Any]]:
    pubsub = conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(f"{channel_prefix}agent.probe.response")
    try:
        conn.publish(
            f"{channel_prefix}agent.probe.request", orjson.dumps({"action": "whoami", "params": {}, "request_id": rid})
        )
        answers = []
        deadline = time.monotonic() + settle_s
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.1)
            if message is not None:
                frame = orjson.loads(message["data"])
                if frame.get("request_id") == rid:
                    answers.append(frame)
        return answers
    finally:
        pubsub.close()


def subscribers(conn: redis.Redis, channel: str) -> int:
    return int(conn.pubsub_numsub(channel)[0][1])


def test_deployments_sharing_the_legacy_channel_names_are_warned_at_start(conn):
    # A channel prefix unique to this test stands for the default names two deployments would share.
    shared = f"t{uuid.uuid4().hex[:8]}:"
    systems = two_deployments((shared, shared))
    try:
        wait_until(lambda: subscribers(conn, f"{shared}agent.probe.request") == 2, 90, "both agents subscribed")
        answers = ask(conn, shared, "both-1")
        assert sorted(a["data"]["instance"] for a in answers) == ["DEPLOY0-PROBE", "DEPLOY1-PROBE"]
        for i, system in enumerate(systems):
            wait_until(
                lambda system=system, i=i: WARNING in system.log_tail(f"agent-DEPLOY{i}-PROBE", 200),
                30,
                f"the shared-channel warning of deployment {i}",
                on_fail=lambda system=system, i=i: system.log_tail(f"agent-DEPLOY{i}-PROBE"),
            )
    finally:
        for system in systems:
            system.stop()


def test_a_legacy_channel_prefix_per_deployment_keeps_their_requests_apart(conn):
    prefixes = (f"a{uuid.uuid4().hex[:8]}:", f"b{uuid.uuid4().hex[:8]}:")
    systems = two_deployments(prefixes)
    try:
        for prefix in prefixes:
            wait_until(
                lambda prefix=prefix: subscribers(conn, f"{prefix}agent.probe.request") == 1, 90, f"{prefix} subscribed"
            )
        for i, prefix in enumerate(prefixes):
            answers = ask(conn, prefix, f"apart-{i}")
            assert [a["data"]["instance"] for a in answers] == [f"DEPLOY{i}-PROBE"], answers
        time.sleep(2.0)  # past the agents' shared-channel check
        for i, system in enumerate(systems):
            assert WARNING not in system.log_tail(f"agent-DEPLOY{i}-PROBE", 200)
    finally:
        for system in systems:
            system.stop()
