"""The /ws/ consumer through the real ASGI application (Channels' communicator)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import Client

from orchestrator_site.web.events import EVENTS_GROUP, MESSAGE_TYPE, relay
from tests.web.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10  # generous: the machine is shared


def communicator(path: str = "/ws/", headers: list[tuple[bytes, bytes]] | None = None) -> WebsocketCommunicator:
    from orchestrator_site.asgi import application

    return WebsocketCommunicator(application, path, headers=headers or [])


async def connected(caller: Any, **kwargs: Any) -> WebsocketCommunicator:
    comm = communicator(headers=caller.ws_headers, **kwargs)
    ok, _ = await comm.connect(timeout=TIMEOUT)
    assert ok
    return comm


async def ask(comm: WebsocketCommunicator, frame: Any) -> dict[str, Any]:
    await comm.send_to(text_data=frame if isinstance(frame, str) else json.dumps(frame))
    return json.loads(await comm.receive_from(timeout=TIMEOUT))


async def still_open(comm: WebsocketCommunicator) -> None:
    assert (await ask(comm, {"type": "ping", "id": "p"})) == {"type": "pong", "id": "p"}


# --- requests -------------------------------------------------------------------------------------


@run_async
async def test_request_frames_get_response_frames_by_id(orchestrator, member):
    comm = await connected(member)
    try:
        reply = await ask(comm, {"id": "w1", "agent": "probe", "action": "echo", "data": {"k": "v"}})
        assert reply["id"] == "w1" and reply["status"] == "success" and reply["data"] == {"k": "v"}
        assert reply["transport"] == "socket"
    finally:
        await comm.disconnect()


@run_async
async def test_many_requests_in_flight_come_back_as_they_finish(orchestrator, member):
    comm = await connected(member)
    try:
        # The slow one goes first and must come back last.
        await comm.send_to(
            text_data=json.dumps({"id": "slow", "agent": "probe", "action": "slow", "data": {"ms": 800}})
        )
        for i in range(30):
            await comm.send_to(text_data=json.dumps({"id": i, "agent": "probe", "action": "echo", "data": {"i": i}}))
        replies = [json.loads(await comm.receive_from(timeout=TIMEOUT)) for _ in range(31)]
        assert [r["id"] for r in replies][-1] == "slow"
        assert sorted(r["id"] for r in replies[:-1]) == list(range(30))
        assert all(r["status"] == "success" for r in replies)
    finally:
        await comm.disconnect()


@run_async
async def test_agent_errors_come_back_as_error_frames(orchestrator, member):
    comm = await connected(member)
    try:
        assert (await ask(comm, {"id": 1, "agent": "ghost", "action": "echo"}))["error"]["code"] == "UNKNOWN_AGENT"
        reply = await ask(comm, {"id": 2, "agent": "probe", "action": "slow", "data": {"ms": 2000}, "timeout_ms": 150})
        assert reply["id"] == 2 and reply["error"]["code"] == "TIMEOUT"
        await still_open(comm)
    finally:
        await comm.disconnect()


@pytest.mark.parametrize(
    "raw,code",
    [
        ("{broken", "INVALID_JSON"),
        ("[1,2,3]", "INVALID_REQUEST"),
        ('"just a string"', "INVALID_REQUEST"),
        ('{"type": "warp"}', "INVALID_REQUEST"),
        ('{"id": "x"}', "INVALID_REQUEST"),
        ('{"agent": "probe", "action": "echo", "data": 5}', "INVALID_REQUEST"),
        ('{"type": "subscribe", "events": "all"}', "INVALID_REQUEST"),
        ('{"type": "subscribe", "events": [1, 2]}', "INVALID_REQUEST"),
        ('{"type": "auth"}', "INVALID_REQUEST"),
        ('{"agent": "orchestrator", "action": "subscribe"}', "INVALID_REQUEST"),
    ],
)
@run_async
async def test_malformed_frames_get_error_frames_and_the_socket_stays_open(orchestrator, member, raw, code):
    comm = await connected(member)
    try:
        reply = await ask(comm, raw)
        assert reply["status"] == "error" and reply["error"]["code"] == code
        await still_open(comm)
    finally:
        await comm.disconnect()


@run_async
async def test_binary_and_oversized_frames(orchestrator, member, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "MAX_FRAME_BYTES": 4096}
    comm = await connected(member)
    try:
        await comm.send_to(bytes_data=b'{"id": "b", "agent": "probe", "action": "echo", "data": {"bin": 1}}')
        assert json.loads(await comm.receive_from(timeout=TIMEOUT))["data"] == {"bin": 1}
        await comm.send_to(bytes_data=b"\xff\xfe\x00")
        assert json.loads(await comm.receive_from(timeout=TIMEOUT))["error"]["code"] == "INVALID_JSON"
        big = json.dumps({"agent": "probe", "action": "echo", "data": {"x": "y" * 8000}})
        assert (await ask(comm, big))["error"]["code"] == "MESSAGE_TOO_LARGE"
        await still_open(comm)
    finally:
        await comm.disconnect()


# --- authentication and origin -------------------------------------------------------------------


@run_async
async def test_token_in_query_string(orchestrator, member):
    comm = communicator(f"/ws/?token={member.token}")
    assert (await comm.connect(timeout=TIMEOUT))[0]
    try:
        assert (await ask(comm, {"id": 1, "agent": "probe", "action": "echo"}))["status"] == "success"
    finally:
        await comm.disconnect()


@run_async
async def test_token_in_first_frame_after_an_unauthenticated_request_is_refused(orchestrator, member):
    comm = communicator()
    assert (await comm.connect(timeout=TIMEOUT))[0]
    try:
        refused = await ask(comm, {"id": 1, "agent": "probe", "action": "echo"})
        assert refused["id"] == 1 and refused["error"]["code"] == "UNAUTHORIZED"
        sub = await ask(comm, {"type": "subscribe"})
        assert sub["error"]["code"] == "UNAUTHORIZED"
        wrong = await ask(comm, {"type": "auth", "token": "nope"})
        assert wrong["error"]["code"] == "UNAUTHORIZED"
        welcome = await ask(comm, {"type": "auth", "token": member.token, "id": "a"})
        assert welcome == {"type": "authenticated", "id": "a", "user": "member", "staff": False}
        assert (await ask(comm, {"id": 2, "agent": "probe", "action": "echo"}))["status"] == "success"
    finally:
        await comm.disconnect()


@run_async
async def test_without_credentials_the_socket_closes_after_the_auth_timeout(orchestrator, anonymous, settings):
    settings.WEB = {**settings.WEB, "WS_AUTH_TIMEOUT_S": 0.3}
    comm = communicator()
    assert (await comm.connect(timeout=TIMEOUT))[0]
    frame = json.loads(await comm.receive_from(timeout=TIMEOUT))
    assert frame["error"]["code"] == "UNAUTHORIZED"
    closed = await comm.receive_output(timeout=TIMEOUT)
    assert closed == {"type": "websocket.close", "code": 4401}


@run_async
async def test_a_bad_token_closes_the_socket_with_4401(orchestrator, member):
    comm = communicator("/ws/?token=wrong")
    assert (await comm.connect(timeout=TIMEOUT))[0]
    assert json.loads(await comm.receive_from(timeout=TIMEOUT))["error"]["code"] == "UNAUTHORIZED"
    assert (await comm.receive_output(timeout=TIMEOUT))["code"] == 4401


@run_async
async def test_session_cookie_authenticates(orchestrator, member):
    from asgiref.sync import sync_to_async

    def login() -> str:
        client = Client()
        client.force_login(member.user)
        return client.cookies["sessionid"].value

    session = await sync_to_async(login)()
    comm = communicator(headers=[(b"cookie", f"sessionid={session}".encode()), (b"origin", b"http://localhost")])
    assert (await comm.connect(timeout=TIMEOUT))[0]
    try:
        assert (await ask(comm, {"id": 1, "agent": "probe", "action": "echo"}))["status"] == "success"
    finally:
        await comm.disconnect()


@pytest.mark.parametrize(
    "origin,accepted",
    [
        (None, True),
        (b"http://localhost:8090", True),
        (b"http://127.0.0.1", True),
        (b"https://evil.example", False),
        (b"null", False),
        (b"http://localhost.evil.example", False),
    ],
)
@run_async
async def test_origin_is_checked(orchestrator, member, origin, accepted):
    headers = member.ws_headers + ([(b"origin", origin)] if origin else [])
    comm = communicator(headers=headers)
    ok, _ = await comm.connect(timeout=TIMEOUT)
    assert ok is accepted
    if ok:
        await comm.disconnect()


@run_async
async def test_staff_only_actions_and_rate_limits_apply_to_frames(orchestrator, member, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"request_user": "2/min", "request_anon": "1/min"},
    }
    comm = await connected(member)
    try:
        forbidden = await ask(comm, {"id": 1, "agent": "orchestrator", "action": "publish", "data": {"event": "x"}})
        assert forbidden["error"]["code"] == "FORBIDDEN"
        assert (await ask(comm, {"id": 2, "agent": "probe", "action": "echo"}))["status"] == "success"
        limited = await ask(comm, {"id": 3, "agent": "probe", "action": "echo"})
        assert limited["id"] == 3 and limited["error"]["code"] == "RATE_LIMITED"
        await still_open(comm)
    finally:
        await comm.disconnect()


# --- events ----------------------------------------------------------------------------------------


async def wait_relay_connected() -> None:
    assert relay.connected is not None
    await asyncio.wait_for(relay.connected.wait(), TIMEOUT)


@run_async
async def test_subscribers_receive_orchestrator_events_filtered_by_name(orchestrator, member, staff):
    everything = await connected(member)
    filtered = await connected(member)
    publisher = await connected(staff)
    try:
        assert (await ask(everything, {"type": "subscribe"}))["events"] == ["*"]
        assert (await ask(filtered, {"type": "subscribe", "events": ["budget_warning"]}))["events"] == [
            "budget_warning"
        ]
        await wait_relay_connected()
        for name in ("provider_health_changed", "budget_warning"):
            reply = await ask(
                publisher, {"agent": "orchestrator", "action": "publish", "data": {"event": name, "provider": "p1"}}
            )
            assert reply["status"] == "success"
        got = [json.loads(await everything.receive_from(timeout=TIMEOUT)) for _ in range(2)]
        assert [g["event"] for g in got] == ["provider_health_changed", "budget_warning"]
        assert all(g["type"] == "event" and g["provider"] == "p1" for g in got)
        only = json.loads(await filtered.receive_from(timeout=TIMEOUT))
        assert only["event"] == "budget_warning"
        assert await filtered.receive_nothing(timeout=0.3)
    finally:
        for comm in (everything, filtered, publisher):
            await comm.disconnect()
    assert relay._task is None  # the last subscriber leaving stopped the relay


@run_async
async def test_events_keep_flowing_after_the_last_subscriber_left_and_a_new_one_came(orchestrator, member, staff):
    """The relay's "subscribed" flag outlived the cancelled relay: the next relay never subscribed."""
    publisher = await connected(staff)
    try:
        for round_ in range(3):
            comm = await connected(member)
            try:
                await ask(comm, {"type": "subscribe", "events": ["comeback"]})
                await wait_relay_connected()
                reply = await ask(
                    publisher,
                    {"agent": "orchestrator", "action": "publish", "data": {"event": "comeback", "round": round_}},
                )
                assert reply["status"] == "success"
                event = json.loads(await comm.receive_from(timeout=TIMEOUT))
                assert event["event"] == "comeback" and event["round"] == round_
            finally:
                await comm.disconnect()  # the last subscriber leaves: the relay stops
            assert relay._task is None
    finally:
        await publisher.disconnect()


@run_async
async def test_the_same_event_from_two_relays_is_delivered_once_and_unsubscribe_stops_events(orchestrator, member):
    comm = await connected(member)
    try:
        await ask(comm, {"type": "subscribe"})
        layer = get_channel_layer()
        message = {
            "type": MESSAGE_TYPE,
            "event_id": "same-id",
            "frame": {"type": "event", "event": "agent_connected", "agent": "probe"},
        }
        await layer.group_send(EVENTS_GROUP, message)
        await layer.group_send(EVENTS_GROUP, dict(message))  # a second web process relaying the same event
        assert json.loads(await comm.receive_from(timeout=TIMEOUT))["event"] == "agent_connected"
        assert await comm.receive_nothing(timeout=0.3)
        assert (await ask(comm, {"type": "unsubscribe", "id": "u"})) == {"type": "unsubscribed", "id": "u"}
        await layer.group_send(EVENTS_GROUP, {**message, "event_id": "other"})
        assert await comm.receive_nothing(timeout=0.3)
    finally:
        await comm.disconnect()


def test_requests_and_events_survive_an_orchestrator_restart(system_factory, settings, member):
    """The pooled connection and the event relay both reconnect on their own."""
    from asgiref.sync import async_to_sync, sync_to_async

    from orchestrator_site.web.gateway import gateway
    from tests.web.conftest import asgi_client

    system = system_factory()
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": system.socket_dir}
    settings.WEB = {**settings.WEB, "EVENT_LIVENESS_S": 0.3}
    echo = json.dumps({"agent": "orchestrator", "action": "echo", "data": {"n": 1}}).encode()

    async def scenario() -> None:
        async with asgi_client() as http:
            assert (await http.post("/api/request", content=echo, headers=member.headers)).status_code == 200
            connects = gateway.connects
            comm = await connected(member)
            try:
                await ask(comm, {"type": "subscribe", "events": ["after_restart"]})
                await wait_relay_connected()
                await sync_to_async(system.restart_orchestrator)(wait_agents=False)
                resp = await http.post("/api/request", content=echo, headers=member.headers)
                # The first request may meet the dropped connection; the next one reconnects.
                if resp.status_code != 200:
                    assert resp.json()["error"]["code"] == "AGENT_UNAVAILABLE"
                    resp = await http.post("/api/request", content=echo, headers=member.headers)
                assert resp.status_code == 200
                status = await http.post(
                    "/api/request", headers=member.headers, content=b'{"agent": "orchestrator", "action": "status"}'
                )
                assert status.json()["data"]["pid"] == system.orchestrator.pid  # the new orchestrator answered
                assert gateway.connects == connects  # the same pooled client, reconnected by itself
                # Events published before the relay re-subscribed are lost; keep publishing until one arrives.
                deadline = asyncio.get_running_loop().time() + 30
                while True:
                    assert asyncio.get_running_loop().time() < deadline, "no event after the restart"
                    await sync_to_async(system.request)("orchestrator", "publish", {"event": "after_restart"})
                    # receive_nothing polls without cancelling the app (receive_from's timeout would).
                    if await comm.receive_nothing(timeout=0.5):
                        continue
                    frame = json.loads(await comm.receive_from(timeout=TIMEOUT))
                    assert frame["event"] == "after_restart"
                    break
            finally:
                await comm.disconnect()

    async_to_sync(scenario)()
