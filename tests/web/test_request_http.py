"""POST /api/request through the real ASGI application (the fast path) and
through Django's async client (the DRF view that sessions use)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.test import AsyncClient

from orchestrator_site.web.gateway import gateway
from tests.web.conftest import asgi_client, run_async

pytestmark = pytest.mark.django_db(transaction=True)


async def post(caller: Any, body: Any, *, raw: bytes | None = None) -> Any:
    async with asgi_client() as client:
        content = raw if raw is not None else json.dumps(body).encode()
        return await client.post("/api/request", content=content, headers=caller.headers)


# --- success and the status mapping -------------------------------------------------------------


@run_async
async def test_echo_through_the_fast_path_returns_the_envelope_with_the_callers_id(orchestrator, member):
    resp = await post(member, {"id": "mine-1", "agent": "probe", "action": "echo", "data": {"x": 1}})
    assert resp.status_code == 200
    frame = resp.json()
    assert frame["id"] == "mine-1"
    assert frame["status"] == "success"
    assert frame["data"] == {"x": 1}
    assert frame["transport"] == "socket"


@run_async
async def test_missing_id_is_assigned_and_returned(orchestrator, member):
    resp = await post(member, {"agent": "orchestrator", "action": "echo", "data": {}})
    assert resp.status_code == 200
    assert isinstance(resp.json()["id"], str) and resp.json()["id"]


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"agent": "no-such-agent", "action": "echo"}, 404, "UNKNOWN_AGENT"),
        ({"agent": "probe", "action": "no_such_action"}, 404, "UNKNOWN_ACTION"),
        ({"agent": "probe", "action": "slow", "data": {"ms": "soon"}}, 400, "VALIDATION_ERROR"),
        ({"agent": "probe", "action": "boom"}, 500, "INTERNAL_ERROR"),
        ({"agent": "probe", "action": "slow", "data": {"ms": 3000}, "timeout_ms": 200}, 504, "TIMEOUT"),
        ({"agent": "probe2", "action": "echo"}, 503, "AGENT_UNAVAILABLE"),
        ({"agent": "orchestrator", "action": "subscribe"}, 400, "INVALID_REQUEST"),
    ],
)
@run_async
async def test_agent_errors_map_to_http_statuses(orchestrator, member, body, status, code):
    resp = await post(member, body)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]["code"] == code


@run_async
async def test_namespace_collision_is_409_with_the_existing_name(orchestrator, member):
    name = f"webtest.test.collide{id(member) % 100000}"
    body = {
        "agent": "naming",
        "action": "allocate_namespace",
        "data": {"project": "webtest", "environment": "test", "namespace": name},
    }
    first = await post(member, body)
    assert first.status_code == 200, first.text
    second = await post(member, body)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "NAMESPACE_COLLISION"


@pytest.mark.parametrize(
    "raw,code",
    [
        (b"{not json", "INVALID_JSON"),
        (b"[1, 2]", "INVALID_REQUEST"),
        (b"", "INVALID_JSON"),
        (b'{"agent": "probe"}', "INVALID_REQUEST"),
        (b'{"action": "echo"}', "INVALID_REQUEST"),
        (b'{"agent": "probe", "action": "echo", "data": [1]}', "INVALID_REQUEST"),
        (b'{"agent": "probe", "action": "echo", "timeout_ms": -5}', "INVALID_REQUEST"),
        (b'{"agent": 7, "action": "echo"}', "INVALID_REQUEST"),
        (b'{"agent": "probe", "action": "echo", "id": {"x": 1}}', "INVALID_REQUEST"),
        (b"\xff\xfe garbage", "INVALID_JSON"),
    ],
)
@run_async
async def test_malformed_bodies_are_400_with_an_error_envelope(orchestrator, member, raw, code):
    resp = await post(member, None, raw=raw)
    assert resp.status_code == 400
    assert resp.json()["status"] == "error"
    assert resp.json()["error"]["code"] == code


@run_async
async def test_a_body_over_the_frame_limit_is_413(orchestrator, member, settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "MAX_FRAME_BYTES": 2048}
    body = {"agent": "probe", "action": "echo", "data": {"blob": "x" * 4096}}
    resp = await post(member, body)
    assert resp.status_code == 413
    assert resp.json()["error"]["code"] == "MESSAGE_TOO_LARGE"


@run_async
async def test_orchestrator_down_is_503(no_orchestrator, member):
    resp = await post(member, {"agent": "probe", "action": "echo"})
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "AGENT_UNAVAILABLE"


# --- auth matrix ------------------------------------------------------------------------------------


@run_async
async def test_anonymous_is_401_with_a_challenge(orchestrator, anonymous):
    resp = await post(anonymous, {"agent": "probe", "action": "echo"})
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "UNAUTHORIZED"
    assert resp.headers["www-authenticate"].startswith("Token")


@pytest.mark.parametrize("header", ["Token not-a-real-token", "Token", "Basic dXNlcjpwdw==", "Token a b"])
@run_async
async def test_bad_credentials_are_401(orchestrator, member, header):
    async with asgi_client() as client:
        resp = await client.post(
            "/api/request", content=b'{"agent":"probe","action":"echo"}', headers={"Authorization": header}
        )
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "UNAUTHORIZED"


@run_async
async def test_token_and_staff_may_call_and_bearer_works_too(orchestrator, member, staff):
    for caller in (member, staff):
        resp = await post(caller, {"agent": "probe", "action": "whoami"})
        assert resp.status_code == 200
    async with asgi_client() as client:
        resp = await client.post(
            "/api/request",
            content=b'{"agent":"probe","action":"echo"}',
            headers={"Authorization": f"Bearer {member.token}"},
        )
    assert resp.status_code == 200


@run_async
async def test_anonymous_may_call_when_the_setting_allows_it(orchestrator, anonymous, settings):
    settings.WEB = {**settings.WEB, "REQUEST_ANONYMOUS": True}
    resp = await post(anonymous, {"agent": "probe", "action": "echo", "data": {"a": 1}})
    assert resp.status_code == 200
    assert resp.json()["data"] == {"a": 1}


@run_async
async def test_staff_only_actions_are_403_for_non_staff_and_forwarded_for_staff(orchestrator, member, staff):
    body = {"agent": "orchestrator", "action": "publish", "data": {"event": "web_test_event"}}
    refused = await post(member, body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    allowed = await post(staff, body)
    assert allowed.status_code == 200
    assert allowed.json()["data"]["published"] == "web_test_event"


@run_async
async def test_revoked_token_stops_working_after_the_cache_ttl(orchestrator, member, settings):
    settings.WEB = {**settings.WEB, "TOKEN_CACHE_TTL_S": 0}
    assert (await post(member, {"agent": "probe", "action": "echo"})).status_code == 200
    from asgiref.sync import sync_to_async
    from rest_framework.authtoken.models import Token

    await sync_to_async(Token.objects.filter(key=member.token).delete)()
    assert (await post(member, {"agent": "probe", "action": "echo"})).status_code == 401


# --- rate limits -----------------------------------------------------------------------------------


@run_async
async def test_rate_limit_per_token_is_429_with_retry_after(orchestrator, member, staff, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"request_user": "3/min", "request_anon": "1/min"},
    }
    statuses = [(await post(member, {"agent": "probe", "action": "echo"})).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = await post(member, {"agent": "probe", "action": "echo"})
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # Another token has its own allowance.
    assert (await post(staff, {"agent": "probe", "action": "echo"})).status_code == 200


@run_async
async def test_rate_limit_per_anonymous_client(orchestrator, anonymous, settings):
    settings.WEB = {**settings.WEB, "REQUEST_ANONYMOUS": True}
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"request_user": "100/min", "request_anon": "2/min"},
    }
    statuses = [(await post(anonymous, {"agent": "probe", "action": "echo"})).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


@run_async
async def test_a_body_that_passes_the_413_check_never_breaks_the_shared_connection(orchestrator, member, settings):
    """Bodies just under the limit grew past it once forwarded (our id, "interface") and the orchestrator
    closed the web's connection, failing other users' requests in flight on it."""
    limit = settings.ORCHESTRATOR["MAX_FRAME_BYTES"]
    head, tail = b'{"agent": "probe", "action": "echo", "data": {"x": "', b'"}}'
    near = head + b"y" * (limit - len(head) - len(tail) - 5) + tail
    assert len(near) <= limit
    async with asgi_client() as client:

        async def slow(i: int) -> Any:
            return await client.post(
                "/api/request",
                headers=member.headers,
                content=json.dumps({"id": f"s{i}", "agent": "probe", "action": "slow", "data": {"ms": 1500}}).encode(),
            )

        others = [asyncio.ensure_future(slow(i)) for i in range(12)]
        await asyncio.sleep(0.5)  # in flight on every pooled connection
        big = await client.post("/api/request", headers=member.headers, content=near)
        answers = await asyncio.gather(*others)
    assert big.status_code == 413 and big.json()["error"]["code"] == "MESSAGE_TOO_LARGE", big.text
    assert big.json()["error"]["details"]["max_bytes"] == limit
    assert [r.status_code for r in answers] == [200] * 12, [r.text for r in answers if r.status_code != 200]


# --- a small pool of orchestrator connections --------------------------------------------------------


@run_async
async def test_one_broken_orchestrator_connection_fails_only_the_requests_on_it(orchestrator, member, settings):
    size = settings.WEB["ORCHESTRATOR_CONNECTIONS"]
    assert size >= 2
    async with asgi_client() as client:

        async def slow(i: int) -> Any:
            return await client.post(
                "/api/request",
                headers=member.headers,
                content=json.dumps({"id": f"b{i}", "agent": "probe", "action": "slow", "data": {"ms": 1500}}).encode(),
            )

        assert (await slow(-1)).status_code == 200  # the pool is open
        tasks = [asyncio.ensure_future(slow(i)) for i in range(8 * size)]
        await asyncio.sleep(0.5)
        broken = gateway.clients[0]
        on_it = broken.inflight
        assert 0 < on_it < 8 * size
        broken._proto.transport.abort()  # the connection breaks under these requests
        answers = await asyncio.gather(*tasks)
    codes = [r.json().get("error", {}).get("code", "OK") for r in answers]
    assert codes.count("AGENT_UNAVAILABLE") == on_it and codes.count("OK") == 8 * size - on_it, codes
    async with asgi_client() as client:  # the broken connection re-opens by itself
        assert (
            await client.post(
                "/api/request",
                headers=member.headers,
                content=json.dumps({"agent": "probe", "action": "whoami"}).encode(),
            )
        ).status_code == 200


@run_async
async def test_concurrent_requests_share_the_pooled_orchestrator_connections(orchestrator, member, settings):
    before = gateway.connects
    async with asgi_client() as client:

        async def one(i: int) -> dict[str, Any]:
            resp = await client.post(
                "/api/request",
                headers=member.headers,
                content=json.dumps({"id": f"c{i}", "agent": "probe", "action": "slow", "data": {"ms": 50}}).encode(),
            )
            assert resp.status_code == 200, resp.text
            return resp.json()

        frames = await asyncio.gather(*(one(i) for i in range(40)))
    assert sorted(f["id"] for f in frames) == sorted(f"c{i}" for i in range(40))
    assert gateway.connects - before == settings.WEB["ORCHESTRATOR_CONNECTIONS"]


# --- the DRF view (sessions, browsable API) --------------------------------------------------------


@run_async
async def test_session_post_needs_the_csrf_token(orchestrator, member):
    client = AsyncClient(enforce_csrf_checks=True)
    await client.aforce_login(member.user)
    body = json.dumps({"agent": "probe", "action": "echo", "data": {"s": 1}})
    refused = await client.post("/api/request", body, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "FORBIDDEN"
    csrf = "k" * 32  # the double-submit pair: cookie and header must agree
    client.cookies["csrftoken"] = csrf
    ok = await client.post("/api/request", body, content_type="application/json", headers={"X-CSRFToken": csrf})
    assert ok.status_code == 200, ok.content
    assert ok.json()["data"] == {"s": 1}


@run_async
async def test_drf_view_applies_the_same_validation_and_auth(orchestrator, member):
    client = AsyncClient()
    anon = await client.post("/api/request", b'{"agent":"probe","action":"echo"}', content_type="application/json")
    assert anon.status_code == 401 and anon.json()["error"]["code"] == "UNAUTHORIZED"
    auth = {"headers": {"Authorization": f"Token {member.token}"}}
    bad = await client.post("/api/request", b"{nope", content_type="application/json", **auth)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_JSON"
    missing = await client.post(
        "/api/request", b'{"agent":"nobody","action":"echo"}', content_type="application/json", **auth
    )
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "UNKNOWN_AGENT"
    ok = await client.post(
        "/api/request", b'{"agent":"probe","action":"echo","data":{"d":2}}', content_type="application/json", **auth
    )
    assert ok.status_code == 200 and ok.json()["data"] == {"d": 2}
    wrong = await client.put("/api/request", b"{}", content_type="application/json", **auth)
    assert wrong.status_code == 405
