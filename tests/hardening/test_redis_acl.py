"""Redis-side agent trust: an ACL user per agent type whose password is the agent token (real Redis).

Each test uses a type name and key prefix of its own and deletes its ACL user
afterwards, so the shared Redis keeps only what it had.
"""

from __future__ import annotations

import secrets
import uuid

import pytest
import redis

from agents import auth
from agents.redis_acl import acl_user_name, redis_acl_apply, redis_acl_remove
from agents.redis_client import redis_request
from agents.redis_keys import RedisKeys
from tests.e2e.redis_helpers import SHARED_REDIS_URL, redis_for, wait_listening

pytestmark = [pytest.mark.timeout(300)]


@pytest.fixture
def acl_user():
    agent_type = f"hz{uuid.uuid4().hex[:8]}"
    prefix = f"test:{uuid.uuid4().hex[:8]}:"
    token = secrets.token_urlsafe(32)
    admin = redis_for()
    user = redis_acl_apply(
        agent_type=agent_type,
        token_hash=auth.token_hash(token),
        redis_url=SHARED_REDIS_URL,
        prefix=prefix,
        client=admin,
    )
    try:
        yield agent_type, prefix, token, user
    finally:
        redis_acl_remove(agent_type=agent_type, redis_url=SHARED_REDIS_URL, client=admin)
        for key in admin.scan_iter(match=f"{prefix}*"):
            admin.delete(key)
        admin.close()


def as_user(user: str, password: str) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=6379, username=user, password=password, socket_timeout=5)


def test_the_agent_user_logs_in_with_its_token_only(acl_user):
    agent_type, prefix, token, user = acl_user
    assert user == acl_user_name(agent_type)
    assert as_user(user, token).ping()
    with pytest.raises(redis.AuthenticationError):
        as_user(user, token + "x").ping()


def test_the_agent_user_reaches_its_own_keys_and_channels_and_nothing_else(acl_user):
    agent_type, prefix, token, user = acl_user
    keys = RedisKeys(prefix)
    conn = as_user(user, token)
    conn.xadd(keys.stream(agent_type), {"frame": b"{}"})
    conn.rpush(keys.reply_list("r1"), b"answer")
    conn.publish(RedisKeys().legacy_response_channel(agent_type), b"{}")
    denied = [
        lambda: conn.xadd(keys.stream("naming"), {"frame": b"{}"}),  # another type's stream
        lambda: conn.set(f"{prefix}elsewhere", 1),
        lambda: conn.get("unprefixed-key"),
        lambda: conn.publish(RedisKeys().legacy_request_channel("naming"), b"{}"),
        lambda: conn.execute_command("FLUSHALL"),
        lambda: conn.execute_command("CONFIG", "GET", "dir"),
        lambda: conn.execute_command("ACL", "LIST"),
    ]
    for attempt in denied:
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()
    conn.close()


@pytest.mark.e2e
def test_a_real_agent_serves_over_redis_logged_in_as_its_acl_user(fuzz_system):
    system = fuzz_system
    agent_type = f"hz{uuid.uuid4().hex[:8]}"
    token = secrets.token_urlsafe(32)
    admin = redis_for()
    redis_acl_apply(
        agent_type=agent_type,
        token_hash=auth.token_hash(token),
        redis_url=SHARED_REDIS_URL,
        prefix=system.redis_prefix,
        client=admin,
    )
    instance = f"ACL-{agent_type}"
    try:
        url = f"redis://{acl_user_name(agent_type)}:{token}@127.0.0.1:6379/0"
        system.start_agent(
            agent_type,
            instance,
            transport="redis",
            wait=False,
            class_path="tests.support.agents.ProbeAgent",
            env={"REDIS_URL": url, "IDEMPOTENCY_ENABLED": "1"},
        )
        wait_listening(system, agent_type, instance)
        frame = redis_request(
            agent_type,
            "whoami",
            {},
            timeout_ms=30_000,
            idempotency_key="acl-1",
            prefix=system.redis_prefix,
            redis_url=SHARED_REDIS_URL,
        )
        assert frame["status"] == "success" and frame["data"]["instance"] == instance, (
            frame,
            system.log_tail("agent-" + instance),
        )
        assert "NOPERM" not in system.log_tail("agent-" + instance, 400)
    finally:
        if instance in system.agents:
            system.kill_agent(instance)
            system.agents.pop(instance)
        redis_acl_remove(agent_type=agent_type, redis_url=SHARED_REDIS_URL, client=admin)
        admin.close()
