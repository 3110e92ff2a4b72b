"""Timely, true answers over Redis (issue 14, items 2 and 4): a real Redis, real agents in-process."""
from __future__ import annotations

import asyncio
import time

import orjson

from agents import protocol
from agents.redis_keys import CONSUMER_GROUP, RedisKeys
from agents.redis_streams import ensure_group, entry_fields
from agents.runtime.redis_conn import make_client
from orchestrator_site.orchestrator.redis_fallback import RedisFallback
from tests.redis.conftest import make_agent, run
from tests.redis.test_streams import transport_for


def allocation(agent_type: str, rid: int, n: int) -> dict:
    return protocol.normalize_request({"id": rid, "agent": agent_type, "action": "allocate", "data": {"n": n}})


async def _ghost(client, keys: RedisKeys, agent_type: str, name: str = "ghost") -> None:
    """A listener that says it is alive for a minute but never reads (hung, or just killed)."""
    await client.zadd(keys.live(agent_type), {name: int(time.time() * 1000) + 60_000})


def test_an_entry_reached_after_its_callers_deadline_is_answered_timeout_and_never_run(redis_url, prefix, agent_type):
    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        stream = keys.stream(agent_type)
        await ensure_group(client, stream)
        reply = keys.reply_list("late")
        # Written 600 ms ago by a caller that waited 300 ms: its deadline passed 300 ms ago.
        fields = entry_fields({"id": "late", "action": "allocate", "data": {"n": 1}}, reply_to=reply,
                              reply_kind="list", timeout_ms=300)
        fields.pop(b"deadline_ms", None)  # an older caller: only the entry's own time tells
        await client.xadd(stream, fields, id=f"{int(time.time() * 1000) - 600}-0")
        agent = make_agent(agent_type)
        transport = transport_for(agent, redis_url, prefix)
        await transport.start()
        try:
            got = await client.blpop([reply], timeout=10)
        finally:
            await transport.stop(2)
            await client.aclose()
        return orjson.loads(got[1]), agent.runs

    answer, runs = run(scenario())
    assert answer["error"]["code"] == "TIMEOUT"
    assert answer["error"]["details"]["may_have_run"] is False
    assert runs == {}  # no grace period after the caller's deadline


def test_the_callers_own_deadline_counts_when_it_is_earlier_than_the_entry_time_says(redis_url, prefix, agent_type):
    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        await ensure_group(client, keys.stream(agent_type))
        reply = keys.reply_list("own")
        fields = entry_fields({"id": "own", "action": "allocate", "data": {"n": 2}}, reply_to=reply,
                              reply_kind="list", timeout_ms=60_000)
        fields[b"deadline_ms"] = str(int(time.time() * 1000) - 1).encode()  # the caller gave up already
        await client.xadd(keys.stream(agent_type), fields)
        agent = make_agent(agent_type)
        transport = transport_for(agent, redis_url, prefix)
        await transport.start()
        try:
            got = await client.blpop([reply], timeout=10)
        finally:
            await transport.stop(2)
            await client.aclose()
        return orjson.loads(got[1]), agent.runs

    answer, runs = run(scenario())
    assert answer["error"]["code"] == "TIMEOUT" and runs == {}


def test_fallback_timeout_withdraws_the_unread_entry_and_says_it_never_ran(redis_url, prefix, agent_type):
    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        await _ghost(client, keys, agent_type)
        await ensure_group(client, keys.stream(agent_type))
        fallback = RedisFallback(redis_url=redis_url, prefix=prefix)
        await fallback.start()
        try:
            answer = await fallback.submit(allocation(agent_type, 7, 7), 0.5)
            left = await client.xlen(keys.stream(agent_type))
            # An agent that starts now finds nothing to run.
            agent = make_agent(agent_type)
            transport = transport_for(agent, redis_url, prefix)
            await transport.start()
            await asyncio.sleep(0.5)
            await transport.stop(2)
        finally:
            await fallback.close()
            await client.aclose()
        return answer, left, agent.runs

    answer, left, runs = run(scenario())
    assert answer["error"]["code"] == "TIMEOUT" and answer["id"] == 7
    assert answer["error"]["details"]["may_have_run"] is False
    assert left == 0
    assert runs == {}


def test_a_request_waiting_for_a_listener_that_dies_is_answered_at_once_and_withdrawn(redis_url, prefix, agent_type):
    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        await _ghost(client, keys, agent_type)
        await ensure_group(client, keys.stream(agent_type))
        fallback = RedisFallback(redis_url=redis_url, prefix=prefix)
        await fallback.start()
        try:
            started = time.monotonic()
            waiting = asyncio.create_task(fallback.submit(allocation(agent_type, 8, 8), 30))
            await asyncio.sleep(0.5)
            assert not waiting.done()  # a live listener: the request waits
            fallback.forget_instance(agent_type, "ghost")  # its socket dropped without a goodbye
            answer = await waiting
            took = time.monotonic() - started
            left = await client.xlen(keys.stream(agent_type))
            again = await fallback.submit(allocation(agent_type, 9, 9), 30)
        finally:
            await fallback.close()
            await client.aclose()
        return answer, took, left, again

    answer, took, left, again = run(scenario())
    assert answer["error"]["code"] == "AGENT_UNAVAILABLE" and answer["id"] == 8
    assert answer["error"]["details"]["may_have_run"] is False
    assert took < 10  # not the 30 s timeout
    assert left == 0  # withdrawn: it never runs later
    assert again["error"]["code"] == "AGENT_UNAVAILABLE"  # the dead one no longer counts


def test_a_request_taken_by_a_consumer_that_died_is_answered_disconnected_and_never_reclaimed(
        redis_url, prefix, agent_type):
    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        stream = keys.stream(agent_type)
        await ensure_group(client, stream)
        await _ghost(client, keys, agent_type)
        fallback = RedisFallback(redis_url=redis_url, prefix=prefix)
        await fallback.start()
        try:
            waiting = asyncio.create_task(fallback.submit(allocation(agent_type, 10, 10), 30))
            # The ghost reads the entry (as a consumer would), then dies: its liveness entry lapses.
            read = None
            for _ in range(100):
                read = await client.xreadgroup(CONSUMER_GROUP, "ghost", {stream: ">"}, count=1)
                if read:
                    break
                await asyncio.sleep(0.05)
            assert read
            await client.zrem(keys.live(agent_type), "ghost")
            answer = await asyncio.wait_for(waiting, 10)
            pending = await client.xpending(stream, CONSUMER_GROUP)
        finally:
            await fallback.close()
            await client.aclose()
        return answer, pending

    answer, pending = run(scenario())
    assert answer["error"]["code"] == "AGENT_DISCONNECTED"
    assert answer["error"]["details"]["may_have_run"] is True
    assert pending["pending"] == 0  # acknowledged: no live instance reclaims and runs it later


def test_a_request_waiting_for_a_live_listener_keeps_waiting_until_it_answers(redis_url, prefix, agent_type):
    async def scenario():
        agent = make_agent(agent_type)
        agent.gate = asyncio.Event()
        transport = transport_for(agent, redis_url, prefix)
        await transport.start()
        fallback = RedisFallback(redis_url=redis_url, prefix=prefix)
        await fallback.start()
        try:
            await asyncio.sleep(0.3)
            waiting = asyncio.create_task(fallback.submit(allocation(agent_type, 11, 11), 30))
            await asyncio.sleep(2.0)  # several watch passes and liveness refreshes
            early = waiting.done()
            agent.gate.set()
            return early, await waiting
        finally:
            await fallback.close()
            await transport.stop(2)

    early, answer = run(scenario())
    assert early is False
    assert answer["status"] == "success" and answer["data"]["run"] == 1


def test_entries_of_a_caller_that_is_gone_are_answered_without_running(redis_url, prefix, agent_type):
    from agents.redis_streams import StreamRequester

    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        await ensure_group(client, keys.stream(agent_type))
        requester = StreamRequester(client, keys)
        await requester.start()
        await requester.send(agent_type, {"id": "orphan", "action": "allocate", "data": {"n": 12}}, 30)
        await requester.stop()  # gone (a killed caller's key lapses within CALLER_TTL_MS instead)
        agent = make_agent(agent_type)
        transport = transport_for(agent, redis_url, prefix)
        await transport.start()
        try:
            for _ in range(200):
                if await client.xlen(keys.stream(agent_type)) == 0:
                    break
                await asyncio.sleep(0.05)
            left = await client.xlen(keys.stream(agent_type))
        finally:
            await transport.stop(2)
            await client.aclose()
        return left, agent.runs

    left, runs = run(scenario())
    assert left == 0  # answered
    assert runs == {}  # but not run: nobody waits for it


def test_the_client_librarys_timeouts_withdraw_unread_entries_and_say_they_never_ran(redis_url, prefix, agent_type):
    from agents.redis_client import AsyncRedisAgentClient, redis_request, redis_request_async

    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        await ensure_group(client, keys.stream(agent_type))  # nobody reads it
        try:
            blocking = await asyncio.to_thread(redis_request, agent_type, "allocate", {"n": 13}, timeout_ms=300,
                                               redis_url=redis_url, prefix=prefix)
            one_shot = await redis_request_async(agent_type, "allocate", {"n": 14}, timeout_ms=300,
                                                 redis_url=redis_url, prefix=prefix)
            async with AsyncRedisAgentClient(redis_url, prefix) as library:
                shared = await library.request(agent_type, "allocate", {"n": 15}, timeout_ms=300)
            left = await client.xlen(keys.stream(agent_type))
        finally:
            await client.aclose()
        return [blocking, one_shot, shared], left

    answers, left = run(scenario())
    assert [a["error"]["code"] for a in answers] == ["TIMEOUT"] * 3
    assert [a["error"]["details"]["may_have_run"] for a in answers] == [False] * 3
    assert left == 0  # none of them runs when an agent comes


def test_an_abandoned_request_is_answered_at_once_and_its_unread_entry_withdrawn(redis_url, prefix, agent_type):
    from agents.protocol import ErrorCode

    async def scenario():
        client = make_client(redis_url)
        keys = RedisKeys(prefix)
        await _ghost(client, keys, agent_type)
        await ensure_group(client, keys.stream(agent_type))
        fallback = RedisFallback(redis_url=redis_url, prefix=prefix)
        await fallback.start()
        try:
            waiting = asyncio.create_task(fallback.submit(allocation(agent_type, 16, 16), 30))
            for _ in range(200):
                if fallback.waiting():
                    break
                await asyncio.sleep(0.01)
            started = time.monotonic()
            assert fallback.abandon(16, ErrorCode.SHUTTING_DOWN, "stopping")
            answer = await asyncio.wait_for(waiting, 10)
            took = time.monotonic() - started
            left = await client.xlen(keys.stream(agent_type))
        finally:
            await fallback.close()
            await client.aclose()
        return answer, took, left

    answer, took, left = run(scenario())
    assert answer["error"]["code"] == "SHUTTING_DOWN" and answer["error"]["details"]["may_have_run"] is False
    assert took < 5
    assert left == 0
