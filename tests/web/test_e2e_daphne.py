"""End to end: a real Daphne, a real orchestrator and the real naming agent
(started by tests/support/system.py), reached over TCP with HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Origin

from tests.support.system import System
from tests.web.daphne_proc import Daphne

pytestmark = pytest.mark.e2e

TIMEOUT = 20


@pytest.fixture(scope="module")
def stack(web_system: System) -> Iterator[dict[str, Any]]:
    """Daphne in front of the package's shared system (orchestrator, naming, probe)."""
    system = web_system
    daphne = None
    try:
        staff = system.manage("create_api_token", "e2e-staff", "--create", "--staff")
        member = system.manage("create_api_token", "e2e-member", "--create")
        assert staff.returncode == 0 and member.returncode == 0, staff.stderr + member.stderr
        daphne = Daphne(system.env, system.root / "daphne.log").start()
        yield {"system": system, "daphne": daphne, "staff": staff.stdout.strip(), "member": member.stdout.strip()}
    finally:
        if daphne is not None:
            daphne.stop()


def post(stack: dict[str, Any], body: Any, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Token {token}"} if token else {}
    return httpx.post(stack["daphne"].url + "/api/request", json=body, headers=headers, timeout=TIMEOUT)


def test_allocate_namespace_over_http_then_collide(stack):
    body = {
        "id": "e2e-1",
        "agent": "naming",
        "action": "allocate_namespace",
        "data": {"project": "e2eproj", "environment": "test"},
    }
    first = post(stack, body, stack["member"])
    assert first.status_code == 200, first.text
    frame = first.json()
    assert frame["id"] == "e2e-1" and frame["transport"] == "socket"
    name = frame["data"]["namespace"]
    assert name.startswith("e2eproj.test.ns")
    assert frame["data"]["cid"].startswith("cid:e2eproj:test:namespace:")
    explicit = {
        "agent": "naming",
        "action": "allocate_namespace",
        "data": {"project": "e2eproj", "environment": "test", "namespace": name},
    }
    clash = post(stack, explicit, stack["member"])
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "NAMESPACE_COLLISION"
    # The namespace is visible through the REST resource, from the same database.
    listed = httpx.get(
        stack["daphne"].url + "/api/namespaces/",
        params={"project": "e2eproj"},
        headers={"Authorization": f"Token {stack['member']}"},
        timeout=TIMEOUT,
    )
    assert listed.status_code == 200 and name in [n["name"] for n in listed.json()["results"]]


def test_http_errors_and_auth_through_daphne(stack):
    assert post(stack, {"agent": "naming", "action": "echo"}, None).status_code == 401
    assert post(stack, {"agent": "naming", "action": "nope"}, stack["member"]).status_code == 404
    bad = httpx.post(
        stack["daphne"].url + "/api/request",
        content=b"{oops",
        headers={"Authorization": f"Token {stack['member']}"},
        timeout=TIMEOUT,
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_JSON"
    assert post(stack, {"agent": "struct", "action": "echo"}, stack["member"]).status_code == 503


def test_websocket_requests_and_agent_connected_events(stack):
    system: System = stack["system"]
    url = stack["daphne"].url.replace("http://", "ws://") + f"/ws/?token={stack['member']}"

    async def scenario() -> list[dict[str, Any]]:
        async with websockets.connect(url, open_timeout=TIMEOUT) as ws:
            await ws.send(json.dumps({"type": "subscribe", "events": ["agent_connected"]}))
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "subscribed"
            for i in range(20):
                await ws.send(json.dumps({"id": i, "agent": "naming", "action": "echo", "data": {"i": i}}))
            replies = [json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) for _ in range(20)]
            assert sorted(r["id"] for r in replies) == list(range(20))
            await ws.send("not json")
            assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["error"]["code"] == "INVALID_JSON"
            # A new agent instance connects: subscribers hear about it through the channel layer.
            # The relay subscribes asynchronously, so allow for a short head start.
            await asyncio.sleep(0.5)
            await asyncio.to_thread(system.start_agent, "probe", "E2E-PROBE-1")
            while True:
                event = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                if event.get("type") == "event" and event.get("instance") == "E2E-PROBE-1":
                    return [event]

    events = asyncio.run(scenario())
    assert events[0]["event"] == "agent_connected" and events[0]["agent"] == "probe"


def test_a_websocket_frame_over_the_limit_gets_message_too_large_and_the_socket_stays_open(stack):
    """Daphne's own message limit used to equal the frame limit: a bigger frame was a close, not an error frame."""
    url = stack["daphne"].url.replace("http://", "ws://") + f"/ws/?token={stack['member']}"
    limit = 1024 * 1024  # ORCHESTRATOR_MAX_FRAME_BYTES' default

    async def scenario() -> list[dict[str, Any]]:
        async with websockets.connect(url, open_timeout=TIMEOUT, max_size=None) as ws:
            answers = []
            for size in (limit + 10, 2 * limit):
                pad = "x" * (size - 60)
                await ws.send(
                    json.dumps({"id": f"big-{size}", "agent": "naming", "action": "echo", "data": {"pad": pad}})
                )
                answers.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            await ws.send(json.dumps({"id": "after", "agent": "naming", "action": "echo", "data": {}}))
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            return answers

    big, bigger, after = asyncio.run(scenario())
    for frame, size in ((big, limit + 10), (bigger, 2 * limit)):
        assert frame["error"]["code"] == "MESSAGE_TOO_LARGE" and frame["error"]["details"]["max_bytes"] == limit
        assert frame["id"] == f"big-{size}"  # recovered from the frame's first bytes
    assert after["id"] == "after" and after["status"] == "success"


def test_websocket_rejects_a_foreign_origin(stack):
    url = stack["daphne"].url.replace("http://", "ws://") + f"/ws/?token={stack['member']}"

    async def attempt() -> None:
        async with websockets.connect(url, origin=Origin("https://evil.example"), open_timeout=TIMEOUT):
            pass

    with pytest.raises(websockets.exceptions.InvalidStatus):
        asyncio.run(attempt())


def test_metrics_through_daphne_count_http_traffic(stack):
    assert post(stack, {"agent": "naming", "action": "echo"}, stack["staff"]).status_code == 200
    resp = httpx.get(
        stack["daphne"].url + "/metrics", headers={"Authorization": f"Bearer {stack['staff']}"}, timeout=TIMEOUT
    )
    assert resp.status_code == 200
    assert 'web_requests_total{action="echo",agent="naming",outcome="success",transport="http"}' in resp.text
    assert "orchestrator_requests_total" in resp.text
    assert "web_orchestrator_up 1" in resp.text


def test_two_daphne_processes_share_events_through_redis_once_each(stack):
    """channels_redis as the layer: both processes relay the orchestrator's
    event into one group; every subscriber, on either process, gets it once."""
    system: System = stack["system"]
    env = {**system.env, "CHANNEL_LAYER": "redis"}
    with Daphne(env, system.root / "daphne-a.log").start() as a, Daphne(env, system.root / "daphne-b.log").start() as b:
        token = stack["staff"]

        async def scenario() -> list[list[dict[str, Any]]]:
            urls = [d.url.replace("http://", "ws://") + f"/ws/?token={token}" for d in (a, b, b)]
            sockets = [await websockets.connect(u, open_timeout=TIMEOUT) for u in urls]
            try:
                for ws in sockets:
                    await ws.send(json.dumps({"type": "subscribe", "events": ["web_e2e_event"]}))
                    assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"] == "subscribed"
                await asyncio.sleep(1.0)  # both relays subscribe to the orchestrator in the background
                publish = {
                    "id": "pub",
                    "agent": "orchestrator",
                    "action": "publish",
                    "data": {"event": "web_e2e_event", "n": 1},
                }
                await sockets[0].send(json.dumps(publish))
                received: list[list[dict[str, Any]]] = [[] for _ in sockets]
                deadline = asyncio.get_running_loop().time() + 3.0
                while asyncio.get_running_loop().time() < deadline:
                    for i, ws in enumerate(sockets):
                        try:
                            frame = json.loads(await asyncio.wait_for(ws.recv(), 0.1))
                        except TimeoutError:
                            continue
                        if frame.get("type") == "event":
                            received[i].append(frame)
                return received
            finally:
                for ws in sockets:
                    await ws.close()

        received = asyncio.run(scenario())
    assert [len(r) for r in received] == [1, 1, 1], received
    assert all(r[0]["event"] == "web_e2e_event" and r[0]["n"] == 1 for r in received)
