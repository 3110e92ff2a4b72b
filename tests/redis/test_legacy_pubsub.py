"""The legacy pub/sub half: agent.<type>.request in, agent.<type>.response out, by request_id."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from agents.redis_keys import RedisKeys
from agents.runtime.redis_conn import make_client
from tests.redis.conftest import make_agent, run, transport_for


async def collect(pubsub: Any, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(out) < count and asyncio.get_running_loop().time() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is not None:
            out.append(orjson.loads(message["data"]))
    return out


async def legacy_session(
    redis_url: str,
    prefix: str,
    agent_type: str,
    payloads: list[bytes],
    expect: int,
    instances: int = 1,
    settle: float = 0.0,
) -> tuple[list[dict[str, Any]], list[Any]]:
    agents = [make_agent(agent_type, f"i{n}") for n in range(instances)]
    transports = [transport_for(a, redis_url, prefix, max_frame_bytes=4096) for a in agents]
    for t in transports:
        await t.start()
    client = make_client(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(RedisKeys().legacy_response_channel(agent_type))
    try:
        for t in transports:
            assert t.legacy is not None
            await asyncio.wait_for(t.legacy.subscribed.wait(), 10)
        for payload in payloads:
            await client.publish(RedisKeys().legacy_request_channel(agent_type), payload)
        answers = await collect(pubsub, expect)
        if settle:
            answers += await collect(pubsub, 1000, timeout=settle)
    finally:
        await pubsub.aclose()
        for t in transports:
            await t.stop(2)
        await client.aclose()
    return answers, agents


def test_older_request_shape_is_answered_on_the_response_channel_by_request_id(redis_url, prefix, agent_type):
    payload = orjson.dumps({"action": "echo", "params": {"hello": "old world"}, "request_id": "legacy-1"})
    answers, _ = run(legacy_session(redis_url, prefix, agent_type, [payload], 1))
    assert len(answers) == 1
    answer = answers[0]
    assert answer["request_id"] == "legacy-1"
    assert answer["status"] == "success" and answer["data"] == {"hello": "old world"}


def test_current_envelope_is_accepted_on_the_legacy_channel_too(redis_url, prefix, agent_type):
    payload = orjson.dumps({"id": "new-1", "agent": agent_type, "action": "echo", "data": {"v": 2}})
    answers, _ = run(legacy_session(redis_url, prefix, agent_type, [payload], 1))
    assert answers[0]["request_id"] == "new-1" and answers[0]["id"] == "new-1"
    assert answers[0]["data"] == {"v": 2}


def test_with_several_instances_subscribed_each_request_is_answered_once(redis_url, prefix, agent_type):
    payloads = [orjson.dumps({"action": "allocate", "params": {"n": i}, "request_id": f"r{i}"}) for i in range(20)]
    answers, agents = run(legacy_session(redis_url, prefix, agent_type, payloads, 20, instances=3, settle=0.5))
    assert sorted(a["request_id"] for a in answers) == sorted(f"r{i}" for i in range(20))
    total_runs: dict[str, int] = {}
    for agent in agents:
        for n, count in agent.runs.items():
            total_runs[n] = total_runs.get(n, 0) + count
    assert total_runs == {str(i): 1 for i in range(20)}


def test_malformed_legacy_payloads_get_error_answers_and_the_agent_keeps_serving(redis_url, prefix, agent_type):
    payloads = [
        b"this is not json",
        b"[1, 2]",
        orjson.dumps({"request_id": "no-action", "params": {}}),
        orjson.dumps({"request_id": "big", "action": "echo", "params": {"x": "y" * 10_000}}),
        orjson.dumps({"request_id": "after", "action": "echo", "params": {"still": "alive"}}),
    ]
    answers, _ = run(legacy_session(redis_url, prefix, agent_type, payloads, 5))
    by_code = sorted((a.get("error") or {}).get("code", "OK") for a in answers)
    assert by_code == ["INVALID_JSON", "INVALID_REQUEST", "INVALID_REQUEST", "MESSAGE_TOO_LARGE", "OK"]
    last = next(a for a in answers if a["status"] == "success")
    assert last["request_id"] == "after" and last["data"] == {"still": "alive"}
    assert next(a for a in answers if a["request_id"] == "no-action")["error"]["code"] == "INVALID_REQUEST"


def test_a_legacy_request_published_while_no_agent_listens_is_lost(redis_url, agent_type):
    """Pub/sub is at-most-once: this documents the weaker guarantee (streams keep such requests)."""

    async def scenario() -> int:
        client = make_client(redis_url)
        try:
            return await client.publish(RedisKeys().legacy_request_channel(agent_type), b'{"action":"echo"}')
        finally:
            await client.aclose()

    assert run(scenario()) == 0  # no receiver: Redis drops it on the spot
