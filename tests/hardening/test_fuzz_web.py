"""Hostile bodies at POST /api/request, POST /api/route-llm and frames at /ws/, through the real ASGI app.

The app (fast paths, Django, Channels) runs in this process against the test
database; agent requests go to a real orchestrator system. Every case gets a
JSON body in the wire protocol's envelope (HTTP 200 exactly when it is a
success), the WebSocket answers with error frames or closes cleanly, normal
requests work afterwards, and ledger, route log and namespaces stored before
are unchanged.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import orjson
import pytest
from asgiref.sync import async_to_sync
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from hypothesis import example, given
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from tests.hardening.fuzz import FUZZ, FUZZ_SMALL, check_frame, hostile_lines, json_values

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600), pytest.mark.django_db(transaction=True)]

TIMEOUT = 30


@pytest.fixture
def web(fuzz_system, settings):
    """This process's web app pointed at the module's orchestrator, a member token and the router seed."""
    from llmrouter import dbthread
    from orchestrator_site.web import principals
    from tests.llmrouter.conftest import load_seed
    from tests.web.conftest import clear_local_cache

    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": fuzz_system.socket_dir}
    # Fuzzing is many requests from one client: keep the rate limits out of the way.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {k: "1000000/min" for k in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]},
    }
    channel_layers.backends.clear()
    principals.token_cache_clear()
    clear_local_cache()
    load_seed()
    user = get_user_model().objects.create_user("fuzzer")
    token = Token.objects.create(user=user).key
    yield token
    dbthread.close_pool_connections()
    channel_layers.backends.clear()
    principals.token_cache_clear()


def stored_rows() -> dict[str, list]:
    from llmrouter.models import Budget, LedgerEntry, Provider, RouteLog

    return {
        "ledger": list(LedgerEntry.objects.order_by("id").values_list()),
        "routes": list(RouteLog.objects.order_by("id").values_list()),
        "budgets": list(Budget.objects.order_by("id").values_list()),
        "providers": list(Provider.objects.order_by("id").values_list("id", "key", "cost_per_1m", "enabled")),
    }


def assert_rows_kept(before: dict[str, list], after: dict[str, list]) -> None:
    for name, rows in before.items():
        assert all(row in after[name] for row in rows), f"{name}: stored rows changed"


async def post(path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    from orchestrator_site.asgi import application

    transport = httpx.ASGITransport(app=application, client=("127.0.0.9", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost", timeout=TIMEOUT) as client:
        return await client.post(path, content=body, headers=headers)


def check_http(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = response.json()
    check_frame(body)
    assert (response.status_code == 200) == (body["status"] == "success"), (response.status_code, body)
    return body


route_bodies = st.one_of(
    hostile_lines(agent="probe"),
    st.fixed_dictionaries(
        {},
        optional={
            "token_count": json_values(4),
            "task_type": json_values(4),
            "priority": json_values(4),
            "max_latency": json_values(4),
            "interface": json_values(4),
            "id": json_values(4),
        },
    ).map(lambda d: orjson.dumps(d, option=orjson.OPT_NON_STR_KEYS)),
)


def test_hostile_bodies_at_api_request_get_protocol_errors(web, fuzz_system, snapshot_guard):
    headers = {"Authorization": f"Token {web}", "Content-Type": "application/json"}
    before = stored_rows()

    @FUZZ
    @given(body=hostile_lines(agent="probe"))
    @example(body=b'{"agent":"probe","action":"echo","data":{"s":"\\udc00"}}')
    @example(body=b"\xef\xbb\xbf{}")
    def prop(body: bytes) -> None:
        check_http(async_to_sync(post)("/api/request", body, headers))

    prop()
    ok = async_to_sync(post)("/api/request", b'{"agent":"probe","action":"echo","data":{"k":1}}', headers)
    assert ok.status_code == 200 and ok.json()["data"] == {"k": 1}
    assert_rows_kept(before, stored_rows())


def test_hostile_bodies_at_route_llm_never_touch_stored_money(web):
    from llmrouter.models import LedgerEntry

    headers = {"Content-Type": "application/json"}
    first = async_to_sync(post)("/api/route-llm", b'{"token_count": 5000, "task_type": "coding"}', headers)
    assert first.status_code == 200, first.text
    before = stored_rows()

    @FUZZ
    @given(body=route_bodies)
    @example(body=b'{"token_count": 1e999}')
    @example(body=b'{"token_count": 18446744073709551616}')
    @example(body=b'{"token_count": 5, "task_type": "\\ud800"}')
    def prop(body: bytes) -> None:
        count = LedgerEntry.objects.count()
        response = async_to_sync(post)("/api/route-llm", body, headers)
        result = check_http(response)
        if result["status"] != "success":
            assert LedgerEntry.objects.count() == count, "a refused request reserved money"

    prop()
    assert_rows_kept(before, stored_rows())
    again = async_to_sync(post)("/api/route-llm", b'{"token_count": 5000, "task_type": "coding"}', headers)
    assert again.status_code == 200 and again.json()["provider"]


# --- WebSocket -----------------------------------------------------------------------------------------------


async def ws_exchange(token: str, payload: Any) -> tuple[list[dict[str, Any]], bool]:
    """Connect, send one hostile message and a sentinel; frames until the sentinel's answer, or closed."""
    from orchestrator_site.asgi import application

    comm = WebsocketCommunicator(application, "/ws/", headers=[(b"authorization", f"Token {token}".encode())])
    ok, _ = await comm.connect(timeout=TIMEOUT)
    assert ok
    sentinel = f"s-{uuid.uuid4().hex}"
    frames: list[dict[str, Any]] = []
    try:
        # send_input, not send_to: the helper refuses empty messages, which a real peer may send.
        key = "bytes" if isinstance(payload, bytes) else "text"
        await comm.send_input({"type": "websocket.receive", key: payload})
        await comm.send_to(text_data=json.dumps({"id": sentinel, "agent": "probe", "action": "whoami"}))
        while True:
            message = await comm.receive_output(timeout=TIMEOUT)
            if message["type"] == "websocket.close":
                return frames, True
            frame = json.loads(message.get("text") or message.get("bytes"))
            frames.append(frame)
            if frame.get("id") == sentinel and "status" in frame:
                return frames, False
    finally:
        await comm.disconnect()


ws_payloads = st.one_of(
    hostile_lines(agent="probe").map(lambda b: b.decode("utf-8", "replace")),
    hostile_lines(agent="probe"),  # binary messages
    st.sampled_from(
        [
            "\ud800",
            '{"id":"x","agent":"probe","action":"echo","data":{"s":"\\ud800"}}',
            "\x00",
            "{" * 5000,
            "x" * 300_000,
        ]
    ),
)


def test_hostile_websocket_messages_get_error_frames_or_a_clean_close(web, fuzz_system, snapshot_guard):
    before = stored_rows()

    @FUZZ_SMALL
    @given(payload=ws_payloads)
    def prop(payload: Any) -> None:
        frames, closed = async_to_sync(ws_exchange)(web, payload)
        for frame in frames:
            check_frame(frame)
        if not closed:
            assert frames[-1]["status"] == "success", frames[-1]

    prop()
    frames, closed = async_to_sync(ws_exchange)(web, '{"id":"n","agent":"probe","action":"echo","data":{}}')
    assert not closed and frames[0]["status"] == "success"
    assert_rows_kept(before, stored_rows())
