"""Timely, true answers over Redis (issue 14, items 2 and 4): a real Redis, real agents in-process."""

from __future__ import annotations

import asyncio
import time

from agents import protocol
from agents.redis_keys import CONSUMER_GROUP
from agents.redis_streams import entry_fields
from tests.redis.conftest import add_ghost_listener, answer_on, make_agent, run, running_fallback, serving, stream_of


def allocation(agent_type: str, rid: int, n: int) -> dict:
    return protocol.normalize_request({"id": rid, "agent": agent_type, "action": "allocate", "data": {"n": n}})


def test_an_entry_reached_after_its_callers_deadline_is_answered_timeout_and_never_run(redis_url, prefix, agent_type):
    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            reply = keys.reply_list("late")
            # Written 600 ms ago by a caller that waited 300 ms: its deadline passed 300 ms ago.
            fields = entry_fields(
                {"id": "late", "action": "allocate", "data": {"n": 1}},
                reply_to=reply,
                reply_kind="list",
                timeout_ms=300,
            )
            fields.pop(b"deadline_ms", None)  # an older caller: only the entry's own time tells
            await client.xadd(stream, fields, id=f"{int(time.time() * 1000) - 600}-0")
            agent = make_agent(agent_type)
            async with serving(agent, redis_url, prefix):
                answer = await answer_on(client, reply)
        return answer, agent.runs

    answer, runs = run(scenario())
    assert answer["error"]["code"] == "TIMEOUT"
    assert answer["error"]["details"]["may_have_run"] is False
    assert runs == {}  # no grace period after the caller's deadline


def test_the_callers_own_deadline_counts_when_it_is_earlier_than_the_entry_time_says(redis_url, prefix, agent_type):
    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            reply = keys.reply_list("own")
            fields = entry_fields(
                {"id": "own", "action": "allocate", "data": {"n": 2}},
                reply_to=reply,
                reply_kind="list",
                timeout_ms=60_000,
            )
            fields[b"deadline_ms"] = str(int(time.time() * 1000) - 1).encode()  # the caller gave up already
            await client.xadd(stream, fields)
            agent = make_agent(agent_type)
            async with serving(agent, redis_url, prefix):
                answer = await answer_on(client, reply)
        return answer, agent.runs

    answer, runs = run(scenario())
    assert answer["error"]["code"] == "TIMEOUT" and runs == {}


def test_fallback_timeout_withdraws_the_unread_entry_and_says_it_never_ran(redis_url, prefix, agent_type):
    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            await add_ghost_listener(client, prefix, agent_type)
            async with running_fallback(redis_url, prefix) as fallback:
                answer = await fallback.submit(allocation(agent_type, 7, 7), 0.5)
                left = await client.xlen(stream)
                # An agent that starts now finds nothing to run.
                agent = make_agent(agent_type)
                async with serving(agent, redis_url, prefix):
                    await asyncio.sleep(0.5)
        return answer, left, agent.runs

    answer, left, runs = run(scenario())
    assert answer["error"]["code"] == "TIMEOUT" and answer["id"] == 7
    assert answer["error"]["details"]["may_have_run"] is False
    assert left == 0
    assert runs == {}


def test_a_request_waiting_for_a_listener_that_dies_is_answered_at_once_and_withdrawn(redis_url, prefix, agent_type):
    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            await add_ghost_listener(client, prefix, agent_type)
            async with running_fallback(redis_url, prefix) as fallback:
                started = time.monotonic()
                waiting = asyncio.create_task(fallback.submit(allocation(agent_type, 8, 8), 30))
                await asyncio.sleep(0.5)
                assert not waiting.done()  # a live listener: the request waits
                fallback.forget_instance(agent_type, "ghost")  # its socket dropped without a goodbye
                answer = await waiting
                took = time.monotonic() - started
                left = await client.xlen(stream)
                again = await fallback.submit(allocation(agent_type, 9, 9), 30)
        return answer, took, left, again

    answer, took, left, again = run(scenario())
    assert answer["error"]["code"] == "AGENT_UNAVAILABLE" and answer["id"] == 8
    assert answer["error"]["details"]["may_have_run"] is False
    assert took < 10  # not the 30 s timeout
    assert left == 0  # withdrawn: it never runs later
    assert again["error"]["code"] == "AGENT_UNAVAILABLE"  # the dead one no longer counts


def test_a_request_taken_by_a_consumer_that_died_is_answered_disconnected_and_never_reclaimed(
    redis_url, prefix, agent_type
):
    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            await add_ghost_listener(client, prefix, agent_type)
            async with running_fallback(redis_url, prefix) as fallback:
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
        return answer, pending

    answer, pending = run(scenario())
    assert answer["error"]["code"] == "AGENT_DISCONNECTED"
    assert answer["error"]["details"]["may_have_run"] is True
    assert pending["pending"] == 0  # acknowledged: no live instance reclaims and runs it later


def test_a_request_waiting_for_a_live_listener_keeps_waiting_until_it_answers(redis_url, prefix, agent_type):
    async def scenario():
        agent = make_agent(agent_type)
        agent.gate = asyncio.Event()
        async with serving(agent, redis_url, prefix), running_fallback(redis_url, prefix) as fallback:
            await asyncio.sleep(0.3)
            waiting = asyncio.create_task(fallback.submit(allocation(agent_type, 11, 11), 30))
            await asyncio.sleep(2.0)  # several watch passes and liveness refreshes
            early = waiting.done()
            agent.gate.set()
            return early, await waiting

    early, answer = run(scenario())
    assert early is False
    assert answer["status"] == "success" and answer["data"]["run"] == 1


def test_entries_of_a_caller_that_is_gone_are_answered_without_running(redis_url, prefix, agent_type):
    from agents.redis_streams import StreamRequester

    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            requester = StreamRequester(client, keys)
            await requester.start()
            await requester.send(agent_type, {"id": "orphan", "action": "allocate", "data": {"n": 12}}, 30)
            await requester.stop()  # gone (a killed caller's key lapses within CALLER_TTL_MS instead)
            agent = make_agent(agent_type)
            async with serving(agent, redis_url, prefix):
                for _ in range(200):
                    if await client.xlen(stream) == 0:
                        break
                    await asyncio.sleep(0.05)
                left = await client.xlen(stream)
        return left, agent.runs

    left, runs = run(scenario())
    assert left == 0  # answered
    assert runs == {}  # but not run: nobody waits for it


def test_the_client_librarys_timeouts_withdraw_unread_entries_and_say_they_never_ran(redis_url, prefix, agent_type):
    from agents.redis_client import AsyncRedisAgentClient, redis_request, redis_request_async

    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            # stream_of made the consumer group; nobody reads it.
            blocking = await asyncio.to_thread(
                redis_request, agent_type, "allocate", {"n": 13}, timeout_ms=300, redis_url=redis_url, prefix=prefix
            )
            one_shot = await redis_request_async(
                agent_type, "allocate", {"n": 14}, timeout_ms=300, redis_url=redis_url, prefix=prefix
            )
            async with AsyncRedisAgentClient(redis_url, prefix) as library:
                shared = await library.request(agent_type, "allocate", {"n": 15}, timeout_ms=300)
            left = await client.xlen(stream)
        return [blocking, one_shot, shared], left

    answers, left = run(scenario())
    assert [a["error"]["code"] for a in answers] == ["TIMEOUT"] * 3
    assert [a["error"]["details"]["may_have_run"] for a in answers] == [False] * 3
    assert left == 0  # none of them runs when an agent comes


def test_an_abandoned_request_is_answered_at_once_and_its_unread_entry_withdrawn(redis_url, prefix, agent_type):
    from agents.protocol import ErrorCode

    async def scenario():
        async with stream_of(redis_url, prefix, agent_type) as (client, keys, stream):
            await add_ghost_listener(client, prefix, agent_type)
            async with running_fallback(redis_url, prefix) as fallback:
                waiting = asyncio.create_task(fallback.submit(allocation(agent_type, 16, 16), 30))
                for _ in range(200):
                    if fallback.waiting():
                        break
                    await asyncio.sleep(0.01)
                started = time.monotonic()
                assert fallback.abandon(16, ErrorCode.SHUTTING_DOWN, "stopping")
                answer = await asyncio.wait_for(waiting, 10)
                took = time.monotonic() - started
                left = await client.xlen(stream)
        return answer, took, left

    answer, took, left = run(scenario())
    assert answer["error"]["code"] == "SHUTTING_DOWN" and answer["error"]["details"]["may_have_run"] is False
    assert took < 5
    assert left == 0
