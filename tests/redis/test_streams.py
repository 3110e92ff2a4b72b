"""The streams half of the Redis transport, with real agents in-process and a real Redis."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
import redis.asyncio as aioredis

from agents.redis_keys import CONSUMER_GROUP, RedisKeys
from agents.redis_streams import StreamRequester, entry_fields
from agents.runtime.redis_conn import make_client
from tests.redis.conftest import answer_on, make_agent, run, serving, stream_of, transport_for


async def reply_via_list(
    client: aioredis.Redis,
    keys: RedisKeys,
    agent_type: str,
    frame: Any,
    token: str,
    *,
    raw: bytes | None = None,
    timeout_ms: int | None = None,
) -> dict[str, Any]:
    """Write one entry by hand (possibly malformed) and BLPOP its answer."""
    reply = keys.reply_list(token)
    fields: dict[Any, Any] = entry_fields(
        frame if isinstance(frame, dict) else {}, reply_to=reply, reply_kind="list", timeout_ms=timeout_ms
    )
    if raw is not None:
        fields[b"frame"] = raw
    await client.xadd(keys.stream(agent_type), fields)
    return await answer_on(client, reply)


def test_stream_request_is_answered_with_callers_id_and_redis_transport(redis_url, prefix, agent_type):
    async def scenario():
        agent = make_agent(agent_type)
        transport = transport_for(agent, redis_url, prefix)
        await transport.start()
        client = make_client(redis_url)
        requester = StreamRequester(client, RedisKeys(prefix))
        await requester.start()
        try:
            answer = await requester.submit(agent_type, {"id": "mine-1", "action": "echo", "data": {"x": 1}}, 10)
            many = await asyncio.gather(
                *(requester.submit(agent_type, {"id": i, "action": "echo", "data": {"i": i}}, 10) for i in range(200))
            )
        finally:
            await requester.stop()
            await transport.stop(2)
            await client.aclose()
        return answer, many

    answer, many = run(scenario())
    assert answer["id"] == "mine-1"
    assert answer["status"] == "success" and answer["data"] == {"x": 1}
    assert answer["transport"] == "redis"
    assert [a["data"]["i"] for a in many] == list(range(200))
    assert all(a["id"] == a["data"]["i"] for a in many)


def test_entries_are_acknowledged_and_deleted_after_answering(redis_url, prefix, agent_type):
    async def scenario():
        keys = RedisKeys(prefix)
        agent = make_agent(agent_type)
        async with make_client(redis_url) as client, serving(agent, redis_url, prefix):
            for i in range(5):
                await reply_via_list(client, keys, agent_type, {"id": f"r{i}", "action": "echo"}, f"tok{i}")
            pending = await client.xpending(keys.stream(agent_type), CONSUMER_GROUP)
            length = await client.xlen(keys.stream(agent_type))
            ttl = await client.pttl(keys.reply_list("tok0"))
        return pending, length, ttl

    pending, length, ttl = run(scenario())
    assert pending["pending"] == 0
    assert length == 0  # answered entries are deleted, so trimming can only ever cut unanswered backlog
    assert ttl == -2  # the reply was popped; an unread one would carry a TTL (checked below)


def test_unread_reply_key_expires(redis_url, prefix, agent_type):
    async def scenario():
        keys = RedisKeys(prefix)
        agent = make_agent(agent_type)
        async with make_client(redis_url) as client, serving(agent, redis_url, prefix, reply_ttl_ms=5000):
            reply = keys.reply_list("nobody-reads")
            await client.xadd(
                keys.stream(agent_type),
                entry_fields({"id": "x", "action": "echo"}, reply_to=reply, reply_kind="list", timeout_ms=None),
            )
            for _ in range(100):
                if await client.exists(reply):
                    break
                await asyncio.sleep(0.05)
            return await client.pttl(reply)

    ttl = run(scenario())
    assert 0 < ttl <= 5000


def test_requests_written_while_no_agent_listens_are_answered_when_one_starts(redis_url, prefix, agent_type):
    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        requester = StreamRequester(client, keys)
        await requester.start()
        waiting = [
            asyncio.create_task(requester.submit(agent_type, {"id": i, "action": "allocate", "data": {"n": i}}, 20))
            for i in range(10)
        ]
        await asyncio.sleep(0.5)
        assert not any(t.done() for t in waiting)
        agent = make_agent(agent_type)
        transport = transport_for(agent, redis_url, prefix)
        await transport.start()
        try:
            answers = await asyncio.gather(*waiting)
        finally:
            await requester.stop()
            await transport.stop(2)
            await client.aclose()
        return answers, agent.runs

    answers, runs = run(scenario())
    assert [a["status"] for a in answers] == ["success"] * 10
    assert runs == {str(i): 1 for i in range(10)}


def test_entry_left_pending_by_a_dead_consumer_is_reclaimed_and_answered_once(redis_url, prefix, agent_type):
    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            reply = keys.reply_list("orphan")
            await client.xadd(
                stream,
                entry_fields(
                    {"id": "orphan", "action": "allocate", "data": {"n": 7}},
                    reply_to=reply,
                    reply_kind="list",
                    timeout_ms=None,
                ),
            )
            # A consumer takes the entry and dies without acknowledging it.
            taken = await client.xreadgroup(CONSUMER_GROUP, "dead-instance", {stream: ">"}, count=10)
            assert len(taken[0][1]) == 1
            agent = make_agent(agent_type, "live-instance")
            async with serving(agent, redis_url, prefix):
                answer = await answer_on(client, reply)
                await asyncio.sleep(0.5)  # give a wrong second answer time to appear
                extra = await client.llen(reply)
                pending = await client.xpending(stream, CONSUMER_GROUP)
        return answer, extra, pending, agent.runs

    answer, extra, pending, runs = run(scenario())
    assert answer["status"] == "success" and answer["data"]["instance"] == "live-instance"
    assert extra == 0
    assert pending["pending"] == 0
    assert runs == {"7": 1}


def test_slow_consumer_and_reclaiming_consumer_write_exactly_one_answer(redis_url, prefix, agent_type):
    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        slow, fast = make_agent(agent_type, "slow"), make_agent(agent_type, "fast")
        t_slow = transport_for(slow, redis_url, prefix, claim_idle_ms=60_000)
        await t_slow.start()
        reply = keys.reply_list("contested")
        await client.xadd(
            keys.stream(agent_type),
            entry_fields(
                {"id": "c", "action": "sleep", "data": {"s": 1.5}}, reply_to=reply, reply_kind="list", timeout_ms=None
            ),
        )
        await asyncio.sleep(0.3)  # the slow instance has it now
        t_fast = transport_for(fast, redis_url, prefix, claim_idle_ms=300)
        await t_fast.start()
        try:
            first = await client.blpop([reply], timeout=10)
            await asyncio.sleep(2.0)  # both runs have finished by now
            extra = await client.llen(reply)
        finally:
            await t_fast.stop(3)
            await t_slow.stop(3)
            await client.aclose()
        return orjson.loads(first[1]), extra

    first, extra = run(scenario())
    assert first["status"] == "success"
    assert extra == 0  # the second finisher found the entry acknowledged and wrote nothing


def test_malformed_entries_get_error_answers_are_acked_and_do_not_stop_the_agent(redis_url, prefix, agent_type):
    async def scenario():
        keys = RedisKeys(prefix)
        agent = make_agent(agent_type)
        async with make_client(redis_url) as client, serving(agent, redis_url, prefix, max_frame_bytes=4096):
            answers = {
                "not_json": await reply_via_list(client, keys, agent_type, None, "a", raw=b"{not json"),
                "array": await reply_via_list(client, keys, agent_type, None, "b", raw=b"[1,2,3]"),
                "no_action": await reply_via_list(client, keys, agent_type, {"id": "c", "data": {}}, "c"),
                "bad_data": await reply_via_list(
                    client, keys, agent_type, {"id": "d", "action": "echo", "data": [1]}, "d"
                ),
                "huge": await reply_via_list(
                    client,
                    keys,
                    agent_type,
                    None,
                    "e",
                    raw=orjson.dumps({"action": "echo", "data": {"x": "y" * 10_000}}),
                ),
                "other_agent": await reply_via_list(
                    client, keys, agent_type, {"id": "f", "agent": "someone-else", "action": "echo"}, "f"
                ),
                "unknown_action": await reply_via_list(client, keys, agent_type, {"id": "g", "action": "nope"}, "g"),
            }
            # An entry without a frame, and one without any reply address, are acknowledged too.
            await client.xadd(keys.stream(agent_type), {b"junk": b"1"})
            await client.xadd(keys.stream(agent_type), {b"frame": b"garbage"})
            still_works = await reply_via_list(
                client, keys, agent_type, {"id": "ok", "action": "echo", "data": {"fine": True}}, "h"
            )
            await asyncio.sleep(0.2)
            pending = await client.xpending(keys.stream(agent_type), CONSUMER_GROUP)
        return answers, still_works, pending

    answers, still_works, pending = run(scenario())
    codes = {name: a["error"]["code"] for name, a in answers.items()}
    assert codes == {
        "not_json": "INVALID_JSON",
        "array": "INVALID_REQUEST",
        "no_action": "INVALID_REQUEST",
        "bad_data": "INVALID_REQUEST",
        "huge": "MESSAGE_TOO_LARGE",
        "other_agent": "INVALID_REQUEST",
        "unknown_action": "UNKNOWN_ACTION",
    }
    assert answers["no_action"]["id"] == "c"
    assert still_works["status"] == "success" and still_works["data"] == {"fine": True}
    assert pending["pending"] == 0


def test_entry_delivered_too_often_is_answered_with_an_error_and_dropped(redis_url, prefix, agent_type):
    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            reply = keys.reply_list("poison")
            entry_id = await client.xadd(
                stream,
                entry_fields(
                    {"id": "p", "action": "allocate", "data": {"n": 1}},
                    reply_to=reply,
                    reply_kind="list",
                    timeout_ms=None,
                ),
            )
            # Two consumers in a row took it and died (as if it crashed them).
            await client.xreadgroup(CONSUMER_GROUP, "victim-1", {stream: ">"}, count=1)
            await client.xclaim(stream, CONSUMER_GROUP, "victim-2", 0, [entry_id])
            agent = make_agent(agent_type)
            async with serving(agent, redis_url, prefix, max_deliveries=2):
                answer = await answer_on(client, reply)
                pending = await client.xpending(stream, CONSUMER_GROUP)
        return answer, pending, agent.runs

    answer, pending, runs = run(scenario())
    assert answer["status"] == "error" and answer["error"]["code"] == "INTERNAL_ERROR"
    assert answer["id"] == "p"
    assert pending["pending"] == 0
    assert runs == {}  # never run a third time


def test_entry_older_than_its_callers_timeout_is_answered_timeout_without_running(redis_url, prefix, agent_type):
    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            reply = keys.reply_list("late")
            await client.xadd(
                stream,
                entry_fields(
                    {"id": "late", "action": "allocate", "data": {"n": 3}},
                    reply_to=reply,
                    reply_kind="list",
                    timeout_ms=100,
                ),
            )
            await asyncio.sleep(0.5)
            agent = make_agent(agent_type)
            async with serving(agent, redis_url, prefix, expiry_grace_ms=0):
                answer = await answer_on(client, reply)
        return answer, agent.runs

    answer, runs = run(scenario())
    assert answer["error"]["code"] == "TIMEOUT"
    assert runs == {}


def test_stop_answers_requests_in_hand_then_leaves_the_group_and_liveness_set(redis_url, prefix, agent_type):
    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        agent = make_agent(agent_type)
        transport = transport_for(agent, redis_url, prefix)
        await transport.start()
        await asyncio.sleep(0.2)
        live_before = await client.zrange(keys.live(agent_type), 0, -1)
        requester = StreamRequester(client, keys)
        await requester.start()
        task = asyncio.create_task(requester.submit(agent_type, {"id": "s", "action": "sleep", "data": {"s": 0.8}}, 10))
        await asyncio.sleep(0.4)
        started = time.monotonic()
        await transport.stop(5)
        stop_took = time.monotonic() - started
        answer = await task
        consumers = await client.xinfo_consumers(keys.stream(agent_type), CONSUMER_GROUP)
        live_after = await client.zrange(keys.live(agent_type), 0, -1)
        await requester.stop()
        await client.aclose()
        return live_before, answer, consumers, live_after, stop_took

    live_before, answer, consumers, live_after, stop_took = run(scenario())
    assert live_before == [b"i1"]
    assert answer["status"] == "success"
    assert consumers == []
    assert live_after == []
    assert stop_took < 5
