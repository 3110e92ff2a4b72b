"""Real agent process: malformed stream entries and pub/sub messages never stop it."""

from __future__ import annotations

import orjson
import pytest

from agents.redis_client import redis_request
from agents.redis_keys import CONSUMER_GROUP, RedisKeys
from tests.e2e.redis_helpers import SHARED_REDIS_URL, redis_for, start_listening_probe
from tests.support.system import wait_until

pytestmark = pytest.mark.e2e


def test_malformed_stream_and_pubsub_payloads_are_answered_acked_and_survived(redis_system):
    system = redis_system(env={"ORCHESTRATOR_MAX_FRAME_BYTES": "65536"})
    agent_type, instance = start_listening_probe(system, "lg")
    keys = RedisKeys(system.redis_prefix)
    client = redis_for()
    stream = keys.stream(agent_type)

    huge = orjson.dumps({"id": "huge", "action": "whoami", "data": {"x": "y" * 100_000}})
    bad_entries = {
        "not-json": b"\xff\xfe not json at all",
        "wrong-shape": b'"just a string"',
        "no-action": orjson.dumps({"id": "no-action", "data": {}}),
        "huge": huge,
    }
    for tag, raw in bad_entries.items():
        client.xadd(stream, {"frame": raw, "reply_to": keys.reply_list(tag), "reply_kind": "list"})
    client.xadd(stream, {"no-frame-and-no-reply": "1"})
    codes = {}
    for tag in bad_entries:
        got = client.blpop([keys.reply_list(tag)], timeout=30)
        assert got is not None, tag
        codes[tag] = orjson.loads(got[1])["error"]["code"]
    assert codes == {
        "not-json": "INVALID_JSON",
        "wrong-shape": "INVALID_REQUEST",
        "no-action": "INVALID_REQUEST",
        "huge": "MESSAGE_TOO_LARGE",
    }
    wait_until(
        lambda: client.xpending(stream, CONSUMER_GROUP)["pending"] == 0 and client.xlen(stream) == 0,
        30,
        "every malformed entry to be acknowledged",
    )

    pubsub = client.pubsub()
    pubsub.subscribe(RedisKeys().legacy_response_channel(agent_type))
    for raw in (b"not json", b"[]", huge, orjson.dumps({"action": "whoami", "params": {}, "request_id": "legacy-ok"})):
        client.publish(RedisKeys().legacy_request_channel(agent_type), raw)
    legacy = []
    wait_until(
        lambda: (
            (m := pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)) is not None
            and legacy.append(orjson.loads(m["data"])) is None
            and len(legacy) == 4
        ),
        30,
        "four legacy answers",
    )
    pubsub.close()
    assert sorted((a.get("error") or {}).get("code", "OK") for a in legacy) == [
        "INVALID_JSON",
        "INVALID_REQUEST",
        "MESSAGE_TOO_LARGE",
        "OK",
    ]
    too_large = next(a for a in legacy if (a.get("error") or {}).get("code") == "MESSAGE_TOO_LARGE")
    assert too_large["request_id"] == "huge"  # too large to parse, yet an old client can match it

    assert system.agents[instance].poll() is None
    after = redis_request(
        agent_type, "whoami", {}, timeout_ms=20_000, prefix=system.redis_prefix, redis_url=SHARED_REDIS_URL
    )
    assert after["status"] == "success" and after["data"]["instance"] == instance
    client.close()


def test_a_reply_key_of_the_wrong_type_is_a_bad_entry_not_a_lost_redis(redis_system):
    """LPUSH on a string key fails with WRONGTYPE: that entry cannot be answered, but Redis is fine, so
    the transport must not log a lost connection, drop its pool and back off."""
    system = redis_system()
    agent_type, instance = start_listening_probe(system, "wt")
    keys = RedisKeys(system.redis_prefix)
    client = redis_for()
    stream = keys.stream(agent_type)
    client.set(keys.reply_list("wrong-type"), "a string, not a list")
    frame = orjson.dumps({"id": "wt-1", "action": "whoami", "data": {}})
    client.xadd(stream, {"frame": frame, "reply_to": keys.reply_list("wrong-type"), "reply_kind": "list"})
    client.xadd(
        stream,
        {
            "frame": orjson.dumps({"id": "ok-1", "action": "whoami", "data": {}}),
            "reply_to": keys.reply_list("fine"),
            "reply_kind": "list",
        },
    )
    got = client.blpop([keys.reply_list("fine")], timeout=30)
    assert got is not None and orjson.loads(got[1])["status"] == "success"
    wait_until(lambda: client.xpending(stream, CONSUMER_GROUP)["pending"] == 0, 30, "both entries acknowledged")
    log = lambda: system.log_tail("agent-" + instance, 200)  # noqa: E731
    wait_until(lambda: "has the wrong type" in log(), 30, "the bad-entry warning", on_fail=log)
    assert "Redis connection lost" not in log()
    assert client.get(keys.reply_list("wrong-type")) == b"a string, not a list"
