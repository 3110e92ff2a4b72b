"""The orchestrator's Redis fallback: answers, or AGENT_UNAVAILABLE / TIMEOUT promptly, never a hang."""

from __future__ import annotations

import asyncio
import time

from agents import protocol
from agents.redis_keys import RedisKeys
from agents.runtime.redis_conn import make_client
from tests.redis.conftest import add_ghost_listener, make_agent, run, running_fallback, serving
from tests.support.net import free_port


def request(agent_type: str, rid: int = 41) -> dict:
    return protocol.normalize_request({"id": rid, "agent": agent_type, "action": "echo", "data": {"via": "fallback"}})


def test_fallback_reaches_a_redis_listening_agent_and_keeps_the_orchestrators_id(redis_url, prefix, agent_type):
    async def scenario():
        agent = make_agent(agent_type)
        async with serving(agent, redis_url, prefix), running_fallback(redis_url, prefix) as fallback:
            await asyncio.sleep(0.2)  # the liveness entry is written right after start
            return await fallback.submit(request(agent_type), 10), fallback.available

    answer, available = run(scenario())
    assert available is True
    assert answer["id"] == 41 and answer["status"] == "success"
    assert answer["data"] == {"via": "fallback"} and answer["transport"] == "redis"


def test_no_agent_listening_on_redis_either_is_agent_unavailable_at_once_and_nothing_queued(
    redis_url, prefix, agent_type
):
    async def scenario():
        async with running_fallback(redis_url, prefix) as fallback, make_client(redis_url) as client:
            started = time.monotonic()
            answer = await fallback.submit(request(agent_type), 10)
            took = time.monotonic() - started
            queued = await client.exists(RedisKeys(prefix).stream(agent_type))
        return answer, took, queued

    answer, took, queued = run(scenario())
    assert answer["error"]["code"] == "AGENT_UNAVAILABLE" and answer["id"] == 41
    assert answer["error"]["details"]["transports_tried"] == ["socket", "redis"]
    assert took < 2
    assert queued == 0


def test_redis_unreachable_is_agent_unavailable_promptly(prefix, agent_type):
    async def scenario():
        async with running_fallback(f"redis://127.0.0.1:{free_port()}/0", prefix) as fallback:
            timings = []
            answers = []
            for _ in range(3):
                started = time.monotonic()
                answers.append(await fallback.submit(request(agent_type), 30))
                timings.append(time.monotonic() - started)
            return answers, timings, fallback.available

    answers, timings, available = run(scenario())
    assert available is False
    assert [a["error"]["code"] for a in answers] == ["AGENT_UNAVAILABLE"] * 3
    assert max(timings) < 3  # never the 30 s timeout


def test_a_listed_agent_that_never_answers_gives_timeout_within_the_deadline(redis_url, prefix, agent_type):
    async def scenario():
        async with make_client(redis_url) as client:
            await add_ghost_listener(client, prefix, agent_type)
            async with running_fallback(redis_url, prefix) as fallback:
                started = time.monotonic()
                answer = await fallback.submit(request(agent_type), 0.5)
                return answer, time.monotonic() - started

    answer, took = run(scenario())
    assert answer["error"]["code"] == "TIMEOUT" and answer["id"] == 41
    assert 0.4 < took < 3
