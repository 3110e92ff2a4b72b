"""Hostile stream entries and legacy pub/sub messages at a real agent process over the real Redis.

The agent runs a type of its own (``hz<hex>``): the legacy channels are
unprefixed and shared with every other test run on this Redis, and its stream
keys carry the system's unique prefix. Every entry that names a reply list
gets exactly one well-formed answer there; every entry is acknowledged; the
agent stays up, answers a normal request afterwards, and the idempotency
record stored before the fuzzing is unchanged.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from agents.redis_client import redis_request
from agents.redis_keys import CONSUMER_GROUP, RedisKeys
from tests.e2e.redis_helpers import SHARED_REDIS_URL, delete_prefix, redis_for, wait_listening
from tests.hardening.fuzz import FUZZ_SMALL, check_frame, hostile_lines
from tests.support.system import System, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

REPLY_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def redis_agent(fuzz_system):
    system: System = fuzz_system
    agent_type = f"hz{uuid.uuid4().hex[:8]}"
    instance = system.start_agent(
        agent_type, transport="redis", wait=False, class_path="tests.support.agents.ProbeAgent"
    )
    try:
        wait_listening(system, agent_type, instance)
        client = redis_for()
        # Stored before the fuzzing: the first answer of an idempotent request.
        first = redis_request(
            agent_type,
            "whoami",
            {},
            idempotency_key="hz-kept",
            timeout_ms=30_000,
            prefix=system.redis_prefix,
            redis_url=SHARED_REDIS_URL,
        )
        assert first["status"] == "success", first
        yield system, agent_type, instance, client
        client.close()
    finally:
        system.kill_agent(instance)
        system.agents.pop(instance, None)
        delete_prefix(system)


def _idempotency_snapshot(client: redis.Redis, keys: RedisKeys, agent_type: str) -> dict[bytes, Any]:
    return {k: client.get(k) for k in client.scan_iter(match=keys.idempotency(agent_type, "*"))}


entry_fields = st.one_of(
    st.just(None),  # the usual layout: {"frame": <line>, "reply_to": <list>, "reply_kind": "list"}
    st.dictionaries(
        st.sampled_from([b"frame", b"reply_kind", b"timeout_ms", b"reply_id", b"x"]),
        st.one_of(st.binary(max_size=40), st.sampled_from([b"list", b"stream", b"none", b"-1", b"1e999", b"\xff"])),
        min_size=1,
        max_size=5,
    ),
)


def test_hostile_stream_entries_are_answered_acknowledged_and_survived(redis_agent):
    system, agent_type, instance, client = redis_agent
    keys = RedisKeys(system.redis_prefix)
    stream = keys.stream(agent_type)
    kept = _idempotency_snapshot(client, keys, agent_type)
    assert kept

    @FUZZ_SMALL
    @given(line=hostile_lines(agent=agent_type), fields=entry_fields)
    def prop(line: bytes, fields: dict[bytes, bytes] | None) -> None:
        if fields is None:
            reply = keys.reply_list(f"hz-{uuid.uuid4().hex}")
            client.xadd(stream, {"frame": line, "reply_to": reply, "reply_kind": "list"})
            got = client.blpop([reply], timeout=REPLY_TIMEOUT_S)
            assert got is not None, f"no answer for {line[:80]!r}\n{system.log_tail('agent-' + instance)}"
            check_frame(orjson.loads(got[1]))
            assert client.llen(reply) == 0  # exactly one answer
        else:
            # Odd layouts without a reply key: nothing to answer, but the entry must be consumed,
            # not wedge the group.
            client.xadd(stream, fields)
        assert system.agents[instance].poll() is None, system.log_tail("agent-" + instance)

    prop()
    wait_until(
        lambda: client.xpending(stream, CONSUMER_GROUP)["pending"] == 0,
        60,
        "every hostile entry to be acknowledged",
        on_fail=lambda: system.log_tail("agent-" + instance),
    )
    after = redis_request(
        agent_type, "whoami", {}, timeout_ms=30_000, prefix=system.redis_prefix, redis_url=SHARED_REDIS_URL
    )
    assert after["status"] == "success" and after["data"]["instance"] == instance, after
    assert _idempotency_snapshot(client, keys, agent_type).items() >= kept.items()


def test_hostile_legacy_pubsub_messages_get_well_formed_answers(redis_agent):
    system, agent_type, instance, client = redis_agent
    pubsub = client.pubsub()
    pubsub.subscribe(RedisKeys().legacy_response_channel(agent_type))
    wait_until(lambda: pubsub.get_message(timeout=0.1) is not None, 10, "the subscription")
    request_channel = RedisKeys().legacy_request_channel(agent_type)
    try:

        @FUZZ_SMALL
        @given(line=hostile_lines(agent=agent_type))
        def prop(line: bytes) -> None:
            sentinel = f"hz-{uuid.uuid4().hex}"
            client.publish(request_channel, line)
            client.publish(request_channel, orjson.dumps({"action": "whoami", "params": {}, "request_id": sentinel}))
            deadline = time.monotonic() + REPLY_TIMEOUT_S
            while time.monotonic() < deadline:
                message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
                if message is None:
                    continue
                frame = orjson.loads(message["data"])
                check_frame(frame)
                if frame.get("request_id") == sentinel:
                    assert frame["status"] == "success", frame
                    break
            else:
                raise AssertionError(f"no legacy answer after {line[:80]!r}\n{system.log_tail('agent-' + instance)}")
            assert system.agents[instance].poll() is None

        prop()
    finally:
        pubsub.close()
