"""REST resources (agents, namespaces), the schema and docs page, /metrics,
the admin dashboard and the token command: auth matrix and bad input for each."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import get_resolver
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token

from agents.naming.models import Namespace
from tests.web import factories

pytestmark = pytest.mark.django_db(transaction=True)


def get(caller: Any, url: str, **kwargs: Any) -> Any:
    client = Client()
    headers = dict(caller.headers)
    headers.update(kwargs.pop("headers", {}))
    return client.get(url, headers=headers, **kwargs)


# --- agents ----------------------------------------------------------------------------------------


def test_agents_join_the_registry_with_the_live_view(orchestrator, member):
    types = factories.agent_types("probe", "naming", "probe2")
    factories.agent_instance(types["probe2"], "OLD-1", connected=False, pid=4)
    resp = get(member, "/api/agents/")
    assert resp.status_code == 200
    by_name = {row["name"]: row for row in resp.json()}
    assert {"probe", "naming", "probe2"} <= set(by_name)
    probe = by_name["probe"]
    assert probe["live"]["ready"] >= 1
    assert "echo" in probe["live"]["actions"]
    live_instances = [i for i in probe["instances"] if i["live"]]
    assert "WEB-PROBE-1" in [i["instance_id"] for i in live_instances]
    assert all(i["live"]["state"] == "READY" for i in live_instances)
    old = by_name["probe2"]["instances"]
    assert [(i["instance_id"], i["connected"], i["live"]) for i in old] == [("OLD-1", False, None)]


def test_agent_detail_and_unknown_agent(orchestrator, member):
    factories.agent_types("probe")
    assert get(member, "/api/agents/probe/").json()["name"] == "probe"
    assert get(member, "/api/agents/nobody/").status_code == 404


def test_agents_without_the_orchestrator_still_list_the_registry(no_orchestrator, member):
    factories.agent_types("probe")
    resp = get(member, "/api/agents/")
    assert resp.status_code == 200
    assert resp.json()[0]["live"] is None


@pytest.mark.parametrize("url", ["/api/agents/", "/api/namespaces/"])
def test_read_resources_auth_matrix(orchestrator, anonymous, member, staff, url):
    assert get(anonymous, url).status_code == 401
    assert get(member, url).status_code == 200
    assert get(staff, url).status_code == 200
    client = Client()
    client.force_login(member.user)  # the browsable API's session
    assert client.get(url).status_code == 200


@pytest.mark.parametrize("url", ["/api/agents/", "/api/namespaces/"])
def test_read_only_resources_refuse_writes(orchestrator, member, staff, url):
    client = Client()
    assert client.post(url, {}, headers=member.headers).status_code == 403  # non-staff write
    assert client.post(url, {}, headers=staff.headers).status_code == 405  # staff: no such write
    assert client.delete(url, headers=staff.headers).status_code == 405


# --- namespaces ------------------------------------------------------------------------------------


def _namespaces() -> None:
    for i, (project, env) in enumerate([("alpha", "test"), ("alpha", "prod"), ("beta", "test")], start=1):
        Namespace.objects.create(
            name=f"{project}.{env}.ns{i}",
            project=project,
            environment=env,
            sequence=i,
            cid=f"cid:{project}:{env}:namespace:{i:026d}",
        )


def test_namespaces_list_filter_and_detail(member):
    _namespaces()
    everything = get(member, "/api/namespaces/").json()
    assert everything["count"] == 3
    alpha_test = get(member, "/api/namespaces/", data={"project": "alpha", "environment": "test"}).json()
    assert [n["name"] for n in alpha_test["results"]] == ["alpha.test.ns1"]
    detail = get(member, "/api/namespaces/beta.test.ns3/")
    assert detail.status_code == 200 and detail.json()["cid"].startswith("cid:beta:test:")
    assert get(member, "/api/namespaces/gamma.test.ns9/").status_code == 404
    future = get(member, "/api/namespaces/", data={"since": "2999-01-01T00:00:00Z"}).json()
    assert future["count"] == 0


@pytest.mark.parametrize(
    "params", [{"since": "yesterday"}, {"until": "2026-01-01T00:00:00"}, {"page": "999"}, {"page": ""}, {"page": "x"}]
)
def test_namespaces_bad_query_parameters(member, params):
    _namespaces()
    resp = get(member, "/api/namespaces/", data=params)
    assert resp.status_code in (400, 404)
    assert resp.status_code == (404 if "page" in params else 400)


# --- schema and docs -----------------------------------------------------------------------------------


def _api_routes() -> set[str]:
    """Every URL pattern under /api/ as an OpenAPI-style path (schema and docs pages excluded)."""
    import re

    found: set[str] = set()

    def walk(patterns: Any, prefix: str) -> None:
        for p in patterns:
            text = prefix + str(p.pattern)
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, text)
                continue
            path = "/" + text.lstrip("^").rstrip("$").replace("\\.(?P<format>[a-z0-9]+)/?", "")
            path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", path)
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path).replace("/?", "/").replace("^", "")
            path = path.replace("{pk}", "{id}")  # drf-spectacular names primary keys "id"
            if path.startswith("/api/") and "format" not in path and path not in ("/api/schema/", "/api/docs/"):
                found.add(path)

    walk(get_resolver().url_patterns, "")
    return found


def test_openapi_schema_validates_and_lists_every_api_route(anonymous):
    resp = Client().get("/api/schema/")
    assert resp.status_code == 200
    schema = yaml.safe_load(resp.content)
    validate_schema(schema)  # raises on an invalid OpenAPI 3 document
    assert schema["openapi"].startswith("3.")
    paths = set(schema["paths"])
    missing = {r for r in _api_routes() if r not in paths and r.rstrip("/") not in paths}
    assert not missing, f"routes missing from the schema: {sorted(missing)}"
    request_op = schema["paths"]["/api/request"]["post"]
    assert {"200", "400", "401", "403", "404", "409", "429", "503", "504"} <= set(request_op["responses"])


def test_docs_page_renders_every_operation_without_external_assets(anonymous):
    resp = Client().get("/api/docs/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "/api/request" in html and "/api/agents/" in html and "/api/namespaces/" in html
    assert "<script" not in html and "cdn" not in html.lower()


# --- metrics --------------------------------------------------------------------------------------------


def test_metrics_auth_matrix(orchestrator, anonymous, member, staff, settings):
    assert get(anonymous, "/metrics").status_code == 401
    assert get(anonymous, "/metrics", headers={"Authorization": "Token bogus"}).status_code == 401
    assert get(member, "/metrics").status_code == 200
    assert get(staff, "/metrics", headers={"Authorization": f"Bearer {staff.token}"}).status_code == 200
    settings.WEB = {**settings.WEB, "METRICS_PUBLIC": True}
    assert get(anonymous, "/metrics").status_code == 200
    assert Client().post("/metrics", headers=member.headers).status_code == 405


def test_metrics_join_web_orchestrator_and_database_series(orchestrator, member):
    factories.router_rows()
    from asgiref.sync import async_to_sync

    from tests.web.conftest import asgi_client

    async def one_request() -> int:
        async with asgi_client() as client:
            resp = await client.post(
                "/api/request", content=b'{"agent":"probe","action":"echo"}', headers=member.headers
            )
            return resp.status_code

    assert async_to_sync(one_request)() == 200
    resp = get(member, "/metrics")
    assert resp["Content-Type"].startswith("text/plain; version=0.0.4")
    text = resp.content.decode()
    assert 'web_requests_total{action="echo",agent="probe",outcome="success",transport="http"}' in text
    assert "web_request_seconds_bucket" in text
    assert "web_orchestrator_up 1" in text
    assert re.search(r'^orchestrator_instances\{agent="probe"\} [1-9]', text, re.M)
    assert 'llm_route_decisions_total{outcome="routed",provider="fast-one"} 2.0' in text
    assert 'llm_provider_healthy{provider="down-one"} 0.0' in text
    assert 'llm_provider_healthy{provider="fast-one"} 1.0' in text
    assert 'llm_budget_spent_dollars{budget="daily",period="daily"} 12.5' in text
    assert 'llm_budget_remaining_dollars{budget="daily",period="daily"} 87.5' in text


def test_metrics_report_the_orchestrator_down(no_orchestrator, member):
    text = get(member, "/metrics").content.decode()
    assert "web_orchestrator_up 0" in text
    assert "web_requests_total" in text or "# HELP web_requests_total" in text


def test_unknown_names_never_become_metric_labels(orchestrator, member):
    from asgiref.sync import async_to_sync

    from tests.web.conftest import asgi_client

    async def junk() -> None:
        async with asgi_client() as client:
            await client.post(
                "/api/request", content=b'{"agent":"zz-junk-agent","action":"echo"}', headers=member.headers
            )

    async_to_sync(junk)()
    text = get(member, "/metrics").content.decode()
    assert "zz-junk-agent" not in text
    assert 'agent="_invalid"' in text


# --- admin dashboard -----------------------------------------------------------------------------------


def test_dashboard_is_staff_only_and_draws_spend_against_the_budget(member, staff):
    factories.router_rows()
    anon = Client().get("/admin/dashboard/")
    assert anon.status_code == 302 and "/admin/login/" in anon["Location"]
    client = Client()
    client.force_login(member.user)
    assert client.get("/admin/dashboard/").status_code == 302
    client.force_login(staff.user)
    resp = client.get("/admin/dashboard/")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert html.count('class="chart"') == 2
    assert "daily budget $100.00" in html
    assert ": $12.50</title>" in html  # today's bar
    assert 'fill="#ba2121"><title>' in html  # the day over budget ($130) is drawn in red
    assert "fast-one" in html and "NO_SUITABLE_PROVIDER" in html
    assert "<script" not in html.split("</header>")[-1]
    assert 'href="/admin/dashboard/"' in client.get("/admin/").content.decode()  # linked from the admin index


# --- token command ------------------------------------------------------------------------------------


def test_create_api_token_command(transactional_db):
    out = io.StringIO()
    call_command("create_api_token", "robot", "--create", stdout=out)
    key = out.getvalue().strip()
    user = get_user_model().objects.get(username="robot")
    assert Token.objects.get(user=user).key == key and not user.is_staff
    again = io.StringIO()
    call_command("create_api_token", "robot", "--staff", stdout=again)
    assert again.getvalue().strip() == key
    assert get_user_model().objects.get(username="robot").is_staff
    rotated = io.StringIO()
    call_command("create_api_token", "robot", "--rotate", stdout=rotated)
    assert rotated.getvalue().strip() != key
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_api_token", "ghost")
