"""Every error under /api/ is the wire protocol's error envelope: DRF's own errors,
Django's 404 for an unknown path, and server errors (never Django's HTML page)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx
import pytest
from django.test import Client

from tests.web.conftest import asgi_client, run_async
from tests.web.daphne_proc import Daphne

pytestmark = pytest.mark.django_db(transaction=True)


def assert_envelope(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json"), resp.text
    frame = resp.json()
    assert frame["status"] == "error" and frame["error"]["code"] == code, frame
    assert set(frame) >= {"id", "timestamp"} and isinstance(frame["error"]["details"], dict)
    return frame


@run_async
async def test_get_on_api_request_is_a_405_envelope_with_allow(member):
    async with asgi_client() as client:
        resp = await client.get("/api/request", headers=member.headers)
    assert_envelope(resp, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in resp.headers["allow"]


@run_async
async def test_unknown_api_path_is_a_404_envelope(member):
    async with asgi_client() as client:
        resp = await client.get("/api/no-such-thing/", headers=member.headers)
    assert_envelope(resp, 404, "NOT_FOUND")


@run_async
async def test_missing_row_and_bad_filter_are_envelopes(member):
    async with asgi_client() as client:
        missing = await client.get("/api/providers/no-such-provider/", headers=member.headers)
        bad_time = await client.get("/api/route-logs/?since=yesterday", headers=member.headers)
    assert_envelope(missing, 404, "NOT_FOUND")
    frame = assert_envelope(bad_time, 400, "VALIDATION_ERROR")
    assert "since" in frame["error"]["details"]["fields"]


@run_async
async def test_unauthenticated_and_forbidden_are_envelopes(member, anonymous):
    body = json.dumps({"key": "mini", "name": "Mini"})
    async with asgi_client() as client:
        anon = await client.get("/api/providers/")
        bad_token = await client.get("/api/providers/", headers={"Authorization": "Token nope"})
        write = await client.post(
            "/api/providers/", content=body, headers={**member.headers, "Content-Type": "application/json"}
        )
    assert_envelope(anon, 401, "UNAUTHORIZED")
    assert anon.headers["www-authenticate"].startswith("Token")
    assert_envelope(bad_token, 401, "UNAUTHORIZED")
    assert_envelope(write, 403, "FORBIDDEN")


def _post_provider(client: Any, staff: Any, body: dict[str, Any], content_type: str = "application/json") -> Any:
    return client.post(
        "/api/providers/", content=json.dumps(body), headers={**staff.headers, "Content-Type": content_type}
    )


PROVIDER = {
    "key": "mini",
    "name": "Mini",
    "cost_per_1m": "0.50",
    "context_window": 16000,
    "latency_ms": 300,
    "quality": 0.6,
    "capabilities": ["coding"],
}


@run_async
async def test_field_errors_duplicates_and_media_types_are_envelopes(staff):
    async with asgi_client() as client:
        invalid = await _post_provider(client, staff, {**PROVIDER, "quality": 1.5})
        created = await _post_provider(client, staff, PROVIDER)
        duplicate = await _post_provider(client, staff, PROVIDER)
        form = await _post_provider(client, staff, PROVIDER, content_type="application/x-www-form-urlencoded")
    frame = assert_envelope(invalid, 400, "VALIDATION_ERROR")
    assert "quality" in frame["error"]["details"]["fields"]
    assert created.status_code == 201, created.text
    frame = assert_envelope(duplicate, 409, "CONFLICT")
    assert "key" in frame["error"]["details"]["fields"]
    assert_envelope(form, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    "field,value", [("enabled", 0), ("quality", False), ("name", 5), ("cost_per_1m", 0.5), ("context_window", "16000")]
)
@run_async
async def test_inputs_of_another_json_type_are_refused_not_coerced(staff, field, value):
    async with asgi_client() as client:
        resp = await _post_provider(client, staff, {**PROVIDER, field: value})
    frame = assert_envelope(resp, 400, "VALIDATION_ERROR")
    assert field in frame["error"]["details"]["fields"]


@pytest.mark.parametrize("rid", [["a"], {"x": 1}, True, 1.5])
@run_async
async def test_route_llm_fast_path_refuses_a_non_scalar_id_like_api_request(member, rid):
    body = json.dumps({"token_count": 10, "id": rid})
    async with asgi_client() as client:
        routed = await client.post("/api/route-llm", content=body, headers=member.headers)
        request = await client.post(
            "/api/request", content=json.dumps({"agent": "naming", "action": "x", "id": rid}), headers=member.headers
        )
    frame = assert_envelope(routed, 400, "INVALID_REQUEST")
    assert frame["error"]["message"] == assert_envelope(request, 400, "INVALID_REQUEST")["error"]["message"]


def test_route_llm_drf_view_refuses_a_non_scalar_id(member):
    client = Client()
    client.force_login(member.user)  # a session: the DRF view, not the fast path
    resp = client.post(
        "/api/route-llm", data=json.dumps({"token_count": 10, "id": ["a"]}), content_type="application/json"
    )
    assert_envelope(resp, 400, "INVALID_REQUEST")


@pytest.fixture
def broken_daphne(tmp_path: Any) -> Any:
    """A Daphne whose database has no tables: every query fails, as when the database is gone."""
    db = tmp_path / "empty.sqlite3"
    sqlite3.connect(db).close()
    from tests.support.system import _base_env

    env = {**_base_env(), "DATABASE_URL": f"sqlite:///{db}", "ORCHESTRATOR_SOCKET_DIR": str(tmp_path / "s")}
    with Daphne(env, tmp_path / "daphne.log").start() as daphne:
        yield daphne


@pytest.mark.e2e
def test_server_errors_on_api_are_json_envelopes_never_html(broken_daphne):
    auth = {"Authorization": "Token 0123456789abcdef0123456789abcdef01234567"}
    base = broken_daphne.url
    with httpx.Client(base_url=base, timeout=30) as client:
        drf = client.get("/api/providers/", headers=auth)  # DRF view: the token lookup fails
        fast_request = client.post("/api/request", headers=auth, json={"agent": "naming", "action": "x"})
        fast_route = client.post("/api/route-llm", json={"token_count": 10})
        outside = client.get("/no-such-page")  # not /api/: Django's page stays
    for resp in (drf, fast_request, fast_route):
        assert_envelope(resp, 500, "INTERNAL_ERROR")
        assert "Traceback" not in resp.text and "OperationalError" not in resp.text
    assert outside.status_code == 404 and outside.headers["content-type"].startswith("text/html")
