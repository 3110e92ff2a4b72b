"""agents.redis_client (scripts that reach agents through Redis only) and the key helper."""

from __future__ import annotations

import asyncio
import threading
import time

from agents.redis_client import AsyncRedisAgentClient, redis_request, redis_request_async
from agents.redis_keys import RedisKeys
from agents.runtime.idempotency import IdempotencyOptions, IdempotencyStore, IdempotentHandle
from tests.redis.conftest import make_agent, run, serving, transport_for
from tests.support.net import free_port


class AgentInThread:
    """A Redis-transport agent on its own event loop, so synchronous client code can call it."""

    def __init__(self, redis_url: str, prefix: str, agent_type: str):
        self.agent = make_agent(agent_type)
        # As the runner does: the transport calls the idempotency wrapper around Agent.handle.
        self.handle = IdempotentHandle(
            self.agent, IdempotencyStore(redis_url=redis_url, prefix=prefix, options=IdempotencyOptions())
        )
        self.transport = transport_for(self.agent, redis_url, prefix)
        self.transport.handle = self.handle
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> AgentInThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.handle.start(), self.loop).result(10)
        asyncio.run_coroutine_threadsafe(self.transport.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.transport.stop(2), self.loop).result(20)
        asyncio.run_coroutine_threadsafe(self.handle.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def test_sync_redis_request_returns_the_usual_envelope_and_honours_idempotency_keys(redis_url, prefix, agent_type):
    with AgentInThread(redis_url, prefix, agent_type) as served:
        first = redis_request(
            agent_type,
            "allocate",
            {"n": 1},
            timeout_ms=10_000,
            idempotency_key="job-1",
            redis_url=redis_url,
            prefix=prefix,
            request_id="mine",
        )
        again = redis_request(
            agent_type,
            "allocate",
            {"n": 1},
            timeout_ms=10_000,
            idempotency_key="job-1",
            redis_url=redis_url,
            prefix=prefix,
        )
    assert first["id"] == "mine" and first["status"] == "success" and first["transport"] == "redis"
    assert again["data"] == first["data"] and again["replayed"] is True
    assert served.agent.runs == {"1": 1}


def test_sync_redis_request_times_out_with_a_timeout_frame_when_no_agent_answers(redis_url, prefix, agent_type):
    started = time.monotonic()
    answer = redis_request(agent_type, "echo", {}, timeout_ms=300, redis_url=redis_url, prefix=prefix)
    assert answer["status"] == "error" and answer["error"]["code"] == "TIMEOUT"
    assert time.monotonic() - started < 3


def test_unreachable_redis_gives_agent_unavailable_not_an_exception(prefix, agent_type):
    answer = redis_request(
        agent_type, "echo", {}, timeout_ms=1000, redis_url=f"redis://127.0.0.1:{free_port()}/0", prefix=prefix
    )
    assert answer["error"]["code"] == "AGENT_UNAVAILABLE"


def test_async_function_and_client_reach_the_agent(redis_url, prefix, agent_type):
    async def scenario():
        async with serving(make_agent(agent_type), redis_url, prefix):
            single = await redis_request_async(
                agent_type, "echo", {"a": 1}, timeout_ms=10_000, redis_url=redis_url, prefix=prefix
            )
            async with AsyncRedisAgentClient(redis_url, prefix) as client:
                many = await asyncio.gather(
                    *(client.request(agent_type, "echo", {"i": i}, request_id="same") for i in range(50))
                )
        return single, many

    single, many = run(scenario())
    assert single["data"] == {"a": 1}
    # Equal caller ids do not confuse the matching: each caller gets its own answer.
    assert [m["data"]["i"] for m in many] == list(range(50))
    assert {m["id"] for m in many} == {"same"}


def test_every_key_carries_the_prefix_but_the_legacy_channels_do_not():
    keys = RedisKeys("app1:")
    built = [
        keys.stream("naming"),
        keys.reply_list("t"),
        keys.reply_stream("c"),
        keys.live("naming"),
        keys.idempotency("naming", "k"),
        keys.legacy_claim("naming", "t"),
    ]
    assert all(k.startswith("app1:") for k in built)
    assert len(set(built)) == len(built)
    assert RedisKeys().legacy_request_channel("naming") == "agent.naming.request"
    assert RedisKeys().legacy_response_channel("naming") == "agent.naming.response"
