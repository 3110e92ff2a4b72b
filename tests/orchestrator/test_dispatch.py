"""Dispatch behaviour of the orchestrator, in-process over real Unix sockets."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from agents.protocol import ErrorCode
from tests.support.inproc import InProc, ManualClock, async_test, eventually


@async_test
async def test_echo_round_trip_keeps_the_clients_id_and_says_socket():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        frame = await conn.request({"id": "mine-1", "agent": "probe", "action": "echo", "data": {"x": [1, 2]}})
        assert frame["id"] == "mine-1"
        assert frame["status"] == "success"
        assert frame["data"] == {"x": [1, 2]}
        assert frame["transport"] == "socket"


@async_test
async def test_request_without_id_gets_one_assigned_and_returned():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        frame = await conn.request({"agent": "probe", "action": "echo", "data": {}})
        assert frame["status"] == "success"
        assert isinstance(frame["id"], str) and frame["id"]


@async_test
async def test_two_clients_may_both_use_id_1_and_each_gets_its_own_answer():
    async with InProc() as sysm:
        await sysm.agent("probe")
        a, b = await sysm.raw(), await sysm.raw()
        await a.send({"id": "1", "agent": "probe", "action": "slow", "data": {"ms": 200}})
        await b.send({"id": "1", "agent": "probe", "action": "echo", "data": {"who": "b"}})
        fb = await b.recv()
        fa = await a.recv()
        assert fb["id"] == "1" and fb["data"] == {"who": "b"}
        assert fa["id"] == "1" and fa["data"]["slept_ms"] == 200


@async_test
async def test_many_pipelined_requests_on_one_connection_are_all_answered_by_id():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        n = 2000
        await conn.send(
            b"".join(
                orjson.dumps({"id": f"r{i}", "agent": "probe", "action": "echo", "data": {"i": i}}) + b"\n"
                for i in range(n)
            )
        )
        frames = await conn.recv_n(n)
        by_id = {f["id"]: f for f in frames}
        assert len(by_id) == n
        assert all(by_id[f"r{i}"]["data"] == {"i": i} for i in range(n))


@async_test
async def test_answers_come_back_in_completion_order_not_request_order():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send({"id": "slow", "agent": "probe", "action": "slow", "data": {"ms": 400}})
        await conn.send({"id": "fast", "agent": "probe", "action": "echo", "data": {}})
        first, second = await conn.recv_n(2)
        assert [first["id"], second["id"]] == ["fast", "slow"]


MALFORMED = [
    (b"{not json\n", ErrorCode.INVALID_JSON),
    (b"[1, 2, 3]\n", ErrorCode.INVALID_REQUEST),
    (b'"just a string"\n', ErrorCode.INVALID_REQUEST),
    (b'{"id": "m1", "agent": "probe"}\n', ErrorCode.INVALID_REQUEST),
    (b'{"id": "m2", "agent": "probe", "action": "echo", "data": [1]}\n', ErrorCode.INVALID_REQUEST),
    (b'{"id": "m3", "action": "echo"}\n', ErrorCode.INVALID_REQUEST),
    (b'{"id": "m4", "agent": "nosuchagent", "action": "echo"}\n', ErrorCode.UNKNOWN_AGENT),
    (b'{"id": "m5", "agent": "probe", "action": "nosuchaction"}\n', ErrorCode.UNKNOWN_ACTION),
    (b'{"id": "m6", "agent": "orchestrator", "action": "nosuchaction"}\n', ErrorCode.UNKNOWN_ACTION),
    (b'{"id": "m7", "agent": "probe", "action": "slow", "data": {"ms": "soon"}}\n', ErrorCode.VALIDATION_ERROR),
    (b'{"type": "nonsense"}\n', ErrorCode.INVALID_REQUEST),
]


@pytest.mark.parametrize("raw, code", MALFORMED, ids=[c.value + str(i) for i, (_, c) in enumerate(MALFORMED)])
@async_test
async def test_malformed_input_gets_its_error_and_the_connection_survives(raw, code):
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send(raw)
        frame = await conn.recv()
        assert frame["status"] == "error"
        assert frame["error"]["code"] == code
        assert set(frame["error"]) == {"code", "message", "details"}
        again = await conn.request({"id": "after", "agent": "probe", "action": "echo", "data": {"ok": True}})
        assert again["id"] == "after" and again["data"] == {"ok": True}


@async_test
async def test_unknown_action_error_lists_the_agents_actions():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        frame = await conn.request({"id": "u", "agent": "probe", "action": "nope"})
        assert "echo" in frame["error"]["details"]["actions"]


@async_test
async def test_frame_over_the_size_limit_gets_message_too_large_then_close():
    async with InProc(max_frame_bytes=4096) as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send(b'{"agent": "probe", "action": "echo", "data": {"x": "' + b"a" * 10_000 + b'"}}\n')
        frame = await conn.recv()
        assert frame["error"]["code"] == ErrorCode.MESSAGE_TOO_LARGE
        assert await conn.closed_by_peer()
        other = await sysm.raw()
        assert (await other.request({"agent": "probe", "action": "echo", "data": {}}))["status"] == "success"


@async_test
async def test_oversized_frame_without_newline_is_refused_before_it_is_buffered():
    async with InProc(max_frame_bytes=4096) as sysm:
        conn = await sysm.raw()
        await conn.send(b"{" + b" " * 20_000)
        frame = await conn.recv()
        assert frame["error"]["code"] == ErrorCode.MESSAGE_TOO_LARGE
        assert await conn.closed_by_peer()


@async_test
async def test_last_frame_without_newline_before_half_close_is_still_answered():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send(b'{"id": "tail", "agent": "probe", "action": "slow", "data": {"ms": 50}}')
        conn.writer.write_eof()
        frame = await conn.recv()
        assert frame["id"] == "tail" and frame["status"] == "success"
        assert await conn.closed_by_peer()


@async_test
async def test_partial_frame_then_close_is_answered_invalid_json_and_the_server_carries_on():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send(b'{"id": "cut", "agent": "probe", "act')
        conn.writer.write_eof()
        frame = await conn.recv()
        assert frame["error"]["code"] == ErrorCode.INVALID_JSON
        abrupt = await sysm.raw()
        await abrupt.send(b'{"id": "cut2", "agen')
        abrupt.close()
        other = await sysm.raw()
        assert (await other.request({"agent": "probe", "action": "echo", "data": {}}))["status"] == "success"


@async_test
async def test_first_frame_request_on_a_type_socket_makes_a_client_of_that_type():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw(sysm.type_socket("probe"))
        frame = await conn.request({"action": "echo", "greeting": "hi"})
        assert frame["status"] == "success"
        assert frame["data"] == {"greeting": "hi"}


@async_test
async def test_ping_gets_pong_on_both_kinds_of_socket():
    async with InProc() as sysm:
        for path in (sysm.client_socket, sysm.type_socket("probe")):
            conn = await sysm.raw(path)
            assert await conn.request({"type": "ping"}) == {"type": "pong"}


@async_test
async def test_request_past_its_timeout_gets_timeout_and_later_requests_still_work():
    clock = ManualClock()  # the timeout passes when the clock is moved, not after a real wait
    async with InProc(clock=clock) as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send({"id": "t", "agent": "probe", "action": "slow", "data": {"ms": 5000}, "timeout_ms": 60_000})
        await eventually(lambda: sysm.server.dispatcher.pending, "the request is pending")
        clock.advance(59)
        await asyncio.sleep(0.2)  # a few ticks: not yet due
        assert sysm.server.dispatcher.pending
        clock.advance(2)
        frame = await conn.recv()
        assert frame["id"] == "t"
        assert frame["error"]["code"] == ErrorCode.TIMEOUT
        assert (await conn.request({"agent": "probe", "action": "echo", "data": {}}))["status"] == "success"


@async_test
async def test_full_instances_and_full_queue_give_overloaded_instead_of_growing():
    async with InProc(max_queue_per_type=1) as sysm:
        await sysm.agent("probe", max_inflight=1)
        conn = await sysm.raw()
        for i in range(3):
            await conn.send({"id": f"o{i}", "agent": "probe", "action": "slow", "data": {"ms": 300}})
        frames = {f["id"]: f for f in await conn.recv_n(3)}
        assert frames["o2"]["error"]["code"] == ErrorCode.OVERLOADED
        assert frames["o0"]["status"] == "success"
        assert frames["o1"]["status"] == "success"  # waited in the queue, then ran


@async_test
async def test_least_outstanding_instance_gets_the_next_request():
    async with InProc() as sysm:
        await sysm.agent("probe", "A")
        await sysm.agent("probe", "B")
        conn = await sysm.raw()
        await conn.send({"id": "busy", "agent": "probe", "action": "slow", "data": {"ms": 1500}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the slow request in flight")
        answers = []
        for i in range(5):
            answers.append(await conn.request({"id": f"w{i}", "agent": "probe", "action": "whoami"}))
        busy = await conn.recv()
        assert busy["id"] == "busy"
        idle_instance = {"A", "B"} - {busy["data"]["instance"]}
        assert {a["data"]["instance"] for a in answers} == idle_instance


@async_test
async def test_type_without_instances_answers_agent_unavailable_at_once():
    async with InProc() as sysm:
        conn = await sysm.raw()
        frame = await conn.request({"id": "x", "agent": "probe2", "action": "echo"}, timeout=10)
        assert frame["error"]["code"] == ErrorCode.AGENT_UNAVAILABLE


@async_test
async def test_agent_lost_mid_request_answers_agent_disconnected_at_once():
    async with InProc() as sysm:
        transport = await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send({"id": "lost", "agent": "probe", "action": "slow", "data": {"ms": 60_000}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the request in flight")
        transport.conn.transport.abort()  # the agent's socket dies without a goodbye
        frame = await conn.recv(timeout=10)
        assert frame["id"] == "lost"
        assert frame["error"]["code"] == ErrorCode.AGENT_DISCONNECTED


@async_test
async def test_idempotent_request_of_a_lost_agent_is_resent_to_another_instance():
    async with InProc() as sysm:
        first = await sysm.agent("probe", "A")
        await sysm.agent("probe", "B")
        conn = await sysm.raw()
        await conn.send({"id": "again", "agent": "probe", "action": "slow_idempotent", "data": {"ms": 500}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the request in flight")
        (p,) = sysm.server.dispatcher.pending.values()
        victim = first if p.link.instance_id == "A" else sysm.transports[1]
        survivor = "B" if victim is first else "A"
        victim.conn.transport.abort()
        frame = await conn.recv()
        assert frame["id"] == "again" and frame["status"] == "success"
        assert frame["data"]["instance"] == survivor
        assert sysm.server.stats.resent == 1


@async_test
async def test_agent_can_call_another_agent_through_the_orchestrator():
    async with InProc() as sysm:
        await sysm.agent("probe")
        await sysm.agent("probe2")
        conn = await sysm.raw()
        frame = await conn.request(
            {"agent": "probe", "action": "relay", "data": {"agent": "probe2", "action": "echo", "data": {"deep": 1}}}
        )
        assert frame["status"] == "success"
        assert frame["data"]["relayed"]["status"] == "success"
        assert frame["data"]["relayed"]["data"] == {"deep": 1}


@async_test
async def test_status_reports_instances_inflight_totals_errors_and_latency():
    async with InProc() as sysm:
        await sysm.agent("probe", "S1")
        conn = await sysm.raw()
        for _ in range(5):
            await conn.request({"agent": "probe", "action": "echo", "data": {}})
        await conn.request({"agent": "probe", "action": "nope"})
        await conn.request({"agent": "probe", "action": "boom"})  # an error answered by the agent itself
        frame = await conn.request({"agent": "orchestrator", "action": "status"})
        status = frame["data"]
        assert [i["instance"] for i in status["types"]["probe"]["instances"]] == ["S1"]
        assert status["types"]["probe"]["instances"][0]["state"] == "READY"
        assert status["types"]["probe2"]["instances"] == []
        assert status["inflight"] == 0
        assert status["totals"]["responses"] >= 5
        assert status["errors_by_code"].get("UNKNOWN_ACTION") == 1
        assert status["errors_by_code"].get("INTERNAL_ERROR") == 1
        assert status["latency_ms"]["samples"] >= 5 and status["latency_ms"]["p50"] > 0


@async_test
async def test_metrics_action_returns_prometheus_text():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.request({"agent": "probe", "action": "echo", "data": {}})
        frame = await conn.request({"agent": "orchestrator", "action": "metrics"})
        text = frame["data"]["text"]
        assert "# TYPE orchestrator_requests_total counter" in text
        assert 'orchestrator_requests_total{agent="probe"} 1' in text
        assert 'orchestrator_instances{agent="probe"} 1' in text


@async_test
async def test_subscribers_receive_agent_events_and_published_events():
    async with InProc() as sysm:
        conn = await sysm.raw()
        assert (await conn.request({"agent": "orchestrator", "action": "subscribe"}))["status"] == "success"
        transport = await sysm.agent("probe", "EV1")
        event = await conn.recv()
        assert event["type"] == "event" and event["event"] == "agent_connected" and event["instance"] == "EV1"
        publisher = await sysm.raw()
        done = await publisher.request(
            {"agent": "orchestrator", "action": "publish", "data": {"event": "budget_warning", "utilization_pct": 91}}
        )
        assert done["status"] == "success"
        event = await conn.recv()
        assert event["event"] == "budget_warning" and event["utilization_pct"] == 91
        transport.conn.transport.abort()
        event = await conn.recv()
        assert event["event"] == "agent_disconnected" and event["instance"] == "EV1"


@async_test
async def test_hello_with_a_wrong_token_is_refused_unauthorized():
    async with InProc(agent_token="s3cret") as sysm:
        conn = await sysm.raw(sysm.type_socket("probe"))
        await conn.send({"type": "hello", "agent": "probe", "instance": "bad", "actions": ["echo"], "token": "nope"})
        frame = await conn.recv()
        assert frame["error"]["code"] == ErrorCode.UNAUTHORIZED
        assert await conn.closed_by_peer()
        await sysm.agent("probe", "good", token="s3cret")  # the right token is welcomed


@async_test
async def test_hello_on_the_client_socket_is_rejected_and_the_connection_survives():
    async with InProc() as sysm:
        conn = await sysm.raw()
        frame = await conn.request({"type": "hello", "agent": "probe", "instance": "x", "actions": []})
        assert frame["error"]["code"] == ErrorCode.INVALID_REQUEST
        assert await conn.request({"type": "ping"}) == {"type": "pong"}


@async_test
async def test_hello_for_another_type_or_duplicate_instance_is_refused():
    async with InProc() as sysm:
        await sysm.agent("probe", "DUP")
        conn = await sysm.raw(sysm.type_socket("probe"))
        frame = await conn.request({"type": "hello", "agent": "probe2", "instance": "x", "actions": []})
        assert frame["error"]["code"] == ErrorCode.INVALID_REQUEST
        conn = await sysm.raw(sysm.type_socket("probe"))
        frame = await conn.request({"type": "hello", "agent": "probe", "instance": "DUP", "actions": []})
        assert frame["error"]["code"] == ErrorCode.CONFLICT


@async_test
async def test_shutdown_lets_inflight_requests_finish_and_removes_socket_files():
    async with InProc() as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send({"id": "inflight", "agent": "probe", "action": "slow", "data": {"ms": 300}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the request in flight")
        stopping = asyncio.get_running_loop().create_task(sysm.stop_server())
        frame = await conn.recv()
        assert frame["id"] == "inflight" and frame["status"] == "success"
        await stopping
        assert not sysm.client_socket.exists()
        assert not sysm.type_socket("probe").exists()


@async_test
async def test_shutdown_answers_requests_still_running_at_the_drain_timeout():
    async with InProc(drain_timeout_s=0.2) as sysm:
        await sysm.agent("probe")
        conn = await sysm.raw()
        await conn.send({"id": "long", "agent": "probe", "action": "slow", "data": {"ms": 30_000}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the request in flight")
        await sysm.stop_server()
        frame = await conn.recv()
        assert frame["error"]["code"] == ErrorCode.SHUTTING_DOWN


@async_test
async def test_agent_reconnects_by_itself_after_the_orchestrator_restarts():
    async with InProc() as sysm:
        transport = await sysm.agent("probe", "BACK", retry_interval_s=0.2)
        await sysm.stop_server()
        await eventually(lambda: transport.state != "READY", "the agent to notice")
        await sysm.start_server()
        await sysm.wait_ready("probe", "BACK")
        conn = await sysm.raw()
        assert (await conn.request({"agent": "probe", "action": "echo", "data": {}}))["status"] == "success"
        assert transport.connects == 2


@async_test
async def test_stopping_agent_drains_its_inflight_request_and_says_draining():
    async with InProc() as sysm:
        transport = await sysm.agent("probe", "DR")
        conn = await sysm.raw()
        await conn.send({"id": "d", "agent": "probe", "action": "slow", "data": {"ms": 300}})
        await eventually(lambda: len(sysm.server.dispatcher.pending) == 1, "the request in flight")
        stopping = asyncio.get_running_loop().create_task(transport.stop(10.0))
        frame = await conn.recv()
        assert frame["id"] == "d" and frame["status"] == "success"
        await stopping
        assert transport.state == "CLOSED"


@async_test
async def test_new_agent_type_gets_a_socket_and_a_removed_one_loses_it():
    async with InProc() as sysm:
        await sysm.server.apply_types({"probe", "probe3"})
        assert sysm.type_socket("probe3").exists()
        assert not sysm.type_socket("probe2").exists()
        await sysm.agent("probe3")
        conn = await sysm.raw()
        assert (await conn.request({"agent": "probe3", "action": "echo", "data": {}}))["status"] == "success"
        frame = await conn.request({"agent": "probe2", "action": "echo"})
        assert frame["error"]["code"] == ErrorCode.UNKNOWN_AGENT


@async_test
async def test_idle_client_connection_gets_bye_then_close_but_busy_ones_stay():
    async with InProc(client_idle_timeout_s=0.3, type_client_idle_timeout_s=0.3) as sysm:
        await sysm.agent("probe")
        idle = await sysm.raw(sysm.type_socket("probe"))
        await idle.send({"type": "client", "features": ["bye"]})
        silent = await sysm.raw(sysm.type_socket("probe"))
        busy = await sysm.raw()
        await busy.send({"id": "long", "agent": "probe", "action": "slow", "data": {"ms": 1200}})
        assert await idle.recv() == {"type": "bye", "reason": "idle"}
        assert await idle.closed_by_peer()
        assert await silent.closed_by_peer()  # no bye for a client that did not ask (nc prints one frame)
        frame = await busy.recv()
        assert frame["id"] == "long" and frame["status"] == "success"


@async_test
async def test_client_socket_connections_stay_open_by_default_when_idle():
    async with InProc() as sysm:
        conn = await sysm.raw()
        await asyncio.sleep(2.5)
        assert await conn.request({"type": "ping"}) == {"type": "pong"}


@async_test
async def test_subscribers_are_never_closed_for_idleness():
    async with InProc(client_idle_timeout_s=0.2) as sysm:
        conn = await sysm.raw()
        await conn.request({"agent": "orchestrator", "action": "subscribe"})
        await asyncio.sleep(1.0)
        assert await conn.request({"type": "ping"}) == {"type": "pong"}
