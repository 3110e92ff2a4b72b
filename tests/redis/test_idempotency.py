"""First answer per idempotency key, remembered in a real Redis."""

from __future__ import annotations

import asyncio
from typing import Any

from agents import protocol
from agents.runtime.idempotency import IdempotencyOptions, IdempotencyStore, IdempotentHandle
from tests.redis.conftest import make_agent, run
from tests.support.net import free_port


async def with_handle(redis_url: str, prefix: str, agent_type: str, body: Any, **options: Any) -> Any:
    agent = make_agent(agent_type)
    store = IdempotencyStore(redis_url=redis_url, prefix=prefix, options=IdempotencyOptions(**options))
    handle = IdempotentHandle(agent, store)
    await handle.start()
    try:
        return await body(agent, handle)
    finally:
        await handle.close()


def req(action: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return protocol.normalize_request({"action": action, "data": data, **extra}, default_agent="x")


def test_a_repeated_idempotency_key_returns_the_first_answer_without_running_again(redis_url, prefix, agent_type):
    async def body(agent, handle):
        first = await handle(req("allocate", {"n": 1}, id="a", idempotency_key="k1"), "socket")
        second = await handle(req("allocate", {"n": 1}, id="b", idempotency_key="k1"), "redis")
        return first, second, agent.runs

    first, second, runs = run(with_handle(redis_url, prefix, agent_type, body))
    assert runs == {"1": 1}
    assert second["data"] == first["data"]
    assert second["id"] == "b" and second["replayed"] is True
    assert "replayed" not in first


def test_a_duplicate_arriving_while_the_first_runs_waits_for_its_answer(redis_url, prefix, agent_type):
    async def body(agent, handle):
        agent.gate = asyncio.Event()
        first = asyncio.create_task(handle(req("allocate", {"n": 2}, id="a", idempotency_key="k2"), "socket"))
        await asyncio.sleep(0.1)
        second = asyncio.create_task(handle(req("allocate", {"n": 2}, id="b", idempotency_key="k2"), "redis"))
        await asyncio.sleep(0.2)
        assert not second.done()
        agent.gate.set()
        return await first, await second, agent.runs

    first, second, runs = run(with_handle(redis_url, prefix, agent_type, body))
    assert runs == {"2": 1}
    assert second["data"] == first["data"] and second["replayed"] is True


def test_the_same_key_for_a_different_request_is_a_conflict(redis_url, prefix, agent_type):
    async def body(agent, handle):
        await handle(req("allocate", {"n": 3}, idempotency_key="k3"), "socket")
        return await handle(req("allocate", {"n": 4}, idempotency_key="k3"), "socket"), agent.runs

    answer, runs = run(with_handle(redis_url, prefix, agent_type, body))
    assert answer["error"]["code"] == "CONFLICT"
    # The caller's own key, not the store's internal "k:k3".
    assert answer["error"]["details"] == {"idempotency_key": "k3"}
    assert "k:" not in str(answer)
    assert runs == {"3": 1}


def test_a_reused_request_id_conflict_names_the_id_not_an_internal_key(redis_url, prefix, agent_type):
    async def body(agent, handle):
        await handle(req("allocate", {"n": 5}, id="job-7"), "socket")
        return await handle(req("allocate", {"n": 6}, id="job-7"), "socket")

    answer = run(with_handle(redis_url, prefix, agent_type, body))
    assert answer["error"]["code"] == "CONFLICT"
    assert answer["error"]["details"] == {"id": "job-7"} and "id:job-7" not in str(answer)


def test_transient_errors_are_not_remembered_but_final_errors_are(redis_url, prefix, agent_type):
    async def body(agent, handle):
        transient = [await handle(req("fail", {"code": "OVERLOADED"}, idempotency_key="t"), "socket") for _ in range(2)]
        final = [
            await handle(req("fail", {"code": "VALIDATION_ERROR"}, idempotency_key="f"), "socket") for _ in range(2)
        ]
        return transient, final

    transient, final = run(with_handle(redis_url, prefix, agent_type, body))
    assert [t.get("replayed") for t in transient] == [None, None]
    assert final[1]["replayed"] is True and final[1]["error"]["code"] == "VALIDATION_ERROR"


def test_non_idempotent_actions_are_keyed_by_string_request_id_but_not_by_counter_ids(redis_url, prefix, agent_type):
    async def body(agent, handle):
        await handle(req("allocate", {"n": 5}, id="req-abc"), "redis")
        again = await handle(req("allocate", {"n": 5}, id="req-abc"), "redis")
        await handle(req("allocate", {"n": 6}, id=17), "socket")
        await handle(req("allocate", {"n": 6}, id=17), "socket")
        await handle(req("echo", {"n": 7}, id="same"), "socket")
        echo_again = await handle(req("echo", {"n": 7}, id="same"), "socket")
        return again, echo_again, agent.runs

    again, echo_again, runs = run(with_handle(redis_url, prefix, agent_type, body))
    assert again["replayed"] is True
    assert runs == {"5": 1, "6": 2}
    assert "replayed" not in echo_again  # idempotent actions are not remembered by id


def test_a_remembered_answer_is_forgotten_after_the_window(redis_url, prefix, agent_type):
    async def body(agent, handle):
        await handle(req("allocate", {"n": 8}, idempotency_key="w"), "socket")
        await asyncio.sleep(1.2)
        later = await handle(req("allocate", {"n": 8}, idempotency_key="w"), "socket")
        return later, agent.runs

    later, runs = run(with_handle(redis_url, prefix, agent_type, body, window_s=1.0))
    assert "replayed" not in later and runs == {"8": 2}


def test_the_store_fails_open_when_redis_is_unreachable(prefix, agent_type):
    async def body(agent, handle):
        started = asyncio.get_running_loop().time()
        answer = await handle(req("allocate", {"n": 9}, idempotency_key="down"), "socket")
        return answer, asyncio.get_running_loop().time() - started

    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    answer, took = run(with_handle(dead_url, prefix, agent_type, body, op_timeout_s=0.5))
    assert answer["status"] == "success"
    assert took < 3


def _dead_claim(prefix: str, agent_type: str, key: str, request: dict[str, Any]) -> bytes:
    """The pending record a process killed mid-run leaves behind: its owner key has lapsed (never refreshed)."""
    from agents.runtime.idempotency import fingerprint_of

    return f"P|run0|deadtoken|AGT-KILLED-1|{fingerprint_of(request)}".encode()


def test_a_retry_takes_over_the_claim_of_a_killed_owner_within_a_second(redis_url, prefix, agent_type):
    import time

    import redis as sync_redis

    from agents.redis_keys import RedisKeys

    request = req("allocate", {"n": 10}, id="retry", idempotency_key="crash", timeout_ms=20_000)
    client = sync_redis.Redis.from_url(redis_url)
    client.set(
        RedisKeys(prefix).idempotency(agent_type, "k:crash"),
        _dead_claim(prefix, agent_type, "crash", request),
        px=30_000,
    )  # the default claim lifetime: only its owner's death can free it sooner
    client.close()

    async def body(agent, handle):
        started = time.monotonic()
        answer = await handle(request, "socket")
        return answer, time.monotonic() - started, agent.runs

    answer, took, runs = run(with_handle(redis_url, prefix, agent_type, body))
    assert answer["status"] == "success", answer
    assert runs == {"10": 1}
    assert took < 5  # not the claim's 30 s lifetime (nor the request's 20 s timeout)


def test_a_claim_of_a_live_owner_is_waited_for_not_taken_over(redis_url, prefix, agent_type):
    async def body(agent, handle):
        other = make_agent(agent_type, "i2")
        store = IdempotencyStore(redis_url=redis_url, prefix=prefix, options=IdempotencyOptions(owner_ttl_s=0.3))
        second = IdempotentHandle(other, store)
        await second.start()
        try:
            agent.gate = asyncio.Event()
            first = asyncio.create_task(handle(req("allocate", {"n": 11}, id="a", idempotency_key="live"), "socket"))
            await asyncio.sleep(0.1)
            retry = asyncio.create_task(second(req("allocate", {"n": 11}, id="b", idempotency_key="live"), "redis"))
            await asyncio.sleep(1.5)  # five owner lifetimes: the first process keeps its key fresh
            early = retry.done()
            agent.gate.set()
            return early, await first, await retry, agent.runs, other.runs
        finally:
            await second.close()

    early, first, retry, runs, other_runs = run(with_handle(redis_url, prefix, agent_type, body, owner_ttl_s=0.3))
    assert early is False
    assert runs == {"11": 1} and other_runs == {}
    assert retry["replayed"] is True and retry["data"] == first["data"]
