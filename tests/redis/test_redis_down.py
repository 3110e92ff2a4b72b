"""Redis going away and coming back, with a private redis-server this test may kill."""

from __future__ import annotations

import asyncio
import logging

import orjson

from agents.redis_keys import RedisKeys
from agents.redis_streams import StreamRequester
from agents.runtime.redis_conn import make_client
from tests.redis.conftest import make_agent, run, serving


async def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def echo_via_stream(url: str, prefix: str, agent_type: str, tag: str) -> dict:
    client = make_client(url)
    requester = StreamRequester(client, RedisKeys(prefix))
    await requester.start()
    try:
        return await requester.submit(agent_type, {"id": tag, "action": "echo", "data": {"tag": tag}}, 10)
    finally:
        await requester.stop()
        await client.aclose()


async def echo_via_pubsub(url: str, agent_type: str, tag: str) -> dict:
    client = make_client(url)
    pubsub = client.pubsub()
    await pubsub.subscribe(RedisKeys().legacy_response_channel(agent_type))
    try:
        for _ in range(50):  # the agent re-subscribes with backoff: publish until it hears
            await client.publish(
                RedisKeys().legacy_request_channel(agent_type),
                orjson.dumps({"action": "echo", "params": {"tag": tag}, "request_id": tag}),
            )
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.3)
            if message is not None:
                return orjson.loads(message["data"])
        raise AssertionError("no pub/sub answer")
    finally:
        await pubsub.aclose()
        await client.aclose()


def test_agent_logs_the_loss_once_and_resumes_both_halves_when_redis_returns(private_redis, agent_type, caplog):
    prefix = "test:down:"

    async def scenario():
        async with serving(make_agent(agent_type), private_redis.url, prefix) as transport:
            before = await echo_via_stream(private_redis.url, prefix, agent_type, "before")
            private_redis.stop()
            await wait_for(lambda: not transport.connected)
            await asyncio.sleep(1.5)  # every loop has hit the dead Redis a few times by now
            private_redis.start()  # same port, empty: the consumer group must be recreated
            await wait_for(lambda: transport.connected)
            after = await echo_via_stream(private_redis.url, prefix, agent_type, "after")
            legacy = await echo_via_pubsub(private_redis.url, agent_type, "legacy-after")
        return before, after, legacy

    with caplog.at_level(logging.WARNING, logger="agents.runtime"):
        before, after, legacy = run(scenario())
    assert before["data"] == {"tag": "before"}
    assert after["status"] == "success" and after["data"] == {"tag": "after"}
    assert legacy["request_id"] == "legacy-after" and legacy["status"] == "success"
    lost = [r for r in caplog.records if "connection lost" in r.getMessage()]
    restored = [r for r in caplog.records if "connection restored" in r.getMessage()]
    assert len(lost) == 1
    assert len(restored) == 1


def test_agent_started_while_redis_is_down_serves_once_it_comes_up(private_redis, agent_type):
    prefix = "test:late:"

    async def scenario():
        private_redis.stop()
        # Starting must not raise or hang.
        async with serving(make_agent(agent_type), private_redis.url, prefix):
            await asyncio.sleep(0.5)
            private_redis.start()
            return await echo_via_stream(private_redis.url, prefix, agent_type, "late")

    answer = run(scenario())
    assert answer["status"] == "success" and answer["data"] == {"tag": "late"}
