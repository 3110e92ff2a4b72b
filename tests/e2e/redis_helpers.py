"""Helpers for the end-to-end Redis tests: a Redis client on the system's prefix, liveness waits."""

from __future__ import annotations

import uuid

import redis

from agents.redis_keys import RedisKeys
from tests.support.system import System, wait_until

SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_for(url: str = SHARED_REDIS_URL) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=2)


def wait_listening(
    system: System, agent_type: str, instance: str, url: str = SHARED_REDIS_URL, timeout: float = 90
) -> None:
    """Until ``instance`` has registered itself as a live Redis consumer of ``agent_type``."""
    client = redis_for(url)
    key = RedisKeys(system.redis_prefix).live(agent_type)
    try:
        wait_until(
            lambda: client.zscore(key, instance) is not None,
            timeout,
            f"{agent_type}/{instance} to listen on Redis",
            on_fail=lambda: system.log_tail("agent-" + instance),
        )
    finally:
        client.close()


def start_listening_probe(system: System, type_prefix: str) -> tuple[str, str]:
    """A ProbeAgent on Redis only, once it listens: (its type, its instance).

    The type is one of its own (``type_prefix`` and a random tail): the legacy channels are unprefixed,
    shared with every other test run.
    """
    agent_type = f"{type_prefix}{uuid.uuid4().hex[:8]}"
    instance = system.start_agent(
        agent_type, transport="redis", wait=False, class_path="tests.support.agents.ProbeAgent"
    )
    wait_listening(system, agent_type, instance)
    return agent_type, instance


def delete_prefix(system: System, url: str = SHARED_REDIS_URL) -> None:
    try:
        client = redis_for(url)
        keys = list(client.scan_iter(match=RedisKeys(system.redis_prefix).pattern(), count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    except redis.RedisError:
        pass
