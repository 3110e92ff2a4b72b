"""Every page of the admin, as a superuser, on real rows: never a 5xx.

Rows are made through the services where there is one (allocations, structures,
concepts, routing decisions and their settlement, heartbeats), so each change page
shows what the system really writes. Models only services may write must offer no
Add and no Delete; every add form posted empty (or with bad values) must come back
as the form with its errors, never a server error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import models
from django.test import Client, RequestFactory
from django.urls import reverse

from agents.protocol import ProtocolError

SERVICE_ONLY = {
    "struct.structure",
    "semantic.corpusstate",
    "semantic.conceptchange",
    "llmrouter.ledgerentry",
    "llmrouter.routelog",
    "llmrouter.ledgercheckpoint",
    "naming.sequencecounter",
}
NO_ADD = SERVICE_ONLY | {
    "agents.agentinstance",
    "naming.namespace",
    "naming.capability",
    "naming.session",
    "semantic.concept",
}


@pytest.fixture
def rows(db: Any, tmp_path: Path) -> dict[str, Any]:
    """At least one real row of every registered model."""
    from django.contrib.auth.models import Group
    from rest_framework.authtoken.models import Token

    from agents.manager.services import instance_heartbeat
    from agents.naming.services import capability_allocate, namespace_allocate, session_allocate
    from agents.semantic.conf import SemanticSettings
    from agents.semantic.services import concept_delete, concept_store
    from agents.struct.services import structure_create
    from llmrouter import services as router
    from llmrouter.models import LedgerCheckpoint, RouterWeights
    from orchestrator_site.orchestrator.registry_sync import agent_instance_connected

    now = datetime.now(UTC)
    superuser = get_user_model().objects.create_superuser("root", "root@example.com", "pw-walk-1")
    Token.objects.create(user=superuser)
    Group.objects.create(name="operators")
    namespace_allocate(environment="test", project="walk")
    capability_allocate(domain="walk", name="Walker", project="walk", environment="test")
    session_allocate(project="walk", environment="test", ttl_s=60)
    structure_create(root=tmp_path, name="Walk Structure", project="walk", environment="test")
    concept_store(name="walking", domain="walk", settings=SemanticSettings())
    gone = concept_store(name="gone", domain="walk", settings=SemanticSettings())
    concept_delete(cid=gone["cid"])
    routed = router.route_request(token_count=5000, task_type="coding", priority="high", max_latency=3000)
    router.usage_settle(decision_id=routed.decision_id, prompt_tokens=4000, completion_tokens=900)
    with pytest.raises(ProtocolError):
        router.route_request(token_count=10**9)  # refused: a route log without a provider
    RouterWeights.objects.get_or_create(pk=1)
    LedgerCheckpoint.objects.create(window_start=now, window_end=now, up_to_id=1, total_nanos=5, created_at=now)
    agent_instance_connected(agent_type="naming", instance_id="AGT-NAMING-1", pid=4242)
    instance_heartbeat(agent_type="naming", instance_id="AGT-NAMING-1", pid=4242, transports=["socket"], now=now)
    return {"superuser": superuser}


@pytest.fixture
def browser(rows: dict[str, Any]) -> Client:
    client = Client(raise_request_exception=False)  # a crash is a 500 to look at, not a test error
    client.force_login(rows["superuser"])
    return client


def _as(user: Any) -> Any:
    """A request from ``user``, for asking a ModelAdmin what it allows."""
    request = RequestFactory().get("/admin/")
    request.user = user
    return request


def _registered() -> list[tuple[type[models.Model], admin.ModelAdmin]]:
    return sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label_lower)


def _url(model: type[models.Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _get(browser: Client, url: str) -> Any:
    response = browser.get(url)
    assert response.status_code < 500, f"GET {url}: {response.status_code}"
    return response


def test_every_changelist_change_page_history_and_delete_confirmation_renders(browser: Client, rows: Any) -> None:
    request = _as(rows["superuser"])
    for model, model_admin in _registered():
        assert _get(browser, _url(model, "changelist")).status_code == 200, model
        obj = model._default_manager.first()
        assert obj is not None, f"the fixture made no {model._meta.label} row"
        page = _get(browser, _url(model, "change", obj.pk))
        assert page.status_code == 200, model
        assert _get(browser, _url(model, "history", obj.pk)).status_code == 200, model
        if model_admin.has_delete_permission(request, obj):
            # The confirmation page walks every related row; nothing is deleted without its POST.
            assert _get(browser, _url(model, "delete", obj.pk)).status_code == 200, model
            if "delete_selected" in model_admin.get_actions(request):
                confirm = browser.post(
                    _url(model, "changelist"), {"action": "delete_selected", "_selected_action": [str(obj.pk)]}
                )
                assert confirm.status_code < 500, model
        pk_field = model._meta.pk.attname  # not obj.pk: DRF's TokenProxy maps pk to the user's id
        assert model._base_manager.filter(**{pk_field: getattr(obj, pk_field)}).exists(), model


def test_service_only_models_offer_no_add_no_delete_and_no_editable_field(browser: Client, rows: Any) -> None:
    request = _as(rows["superuser"])
    for model, model_admin in _registered():
        label = model._meta.label_lower
        if label in NO_ADD:
            assert not model_admin.has_add_permission(request), label
            assert browser.get(_url(model, "add")).status_code == 403, label
        if label in SERVICE_ONLY:
            obj = model._default_manager.first()
            assert obj is not None, label
            assert not model_admin.has_delete_permission(request, obj), label
            assert not model_admin.has_change_permission(request, obj), label
            page = browser.get(_url(model, "change", obj.pk)).content.decode()
            assert 'name="_save"' not in page and "deletelink" not in page, label


def test_every_add_form_renders_and_an_empty_post_shows_errors_not_a_500(browser: Client, rows: Any) -> None:
    request = _as(rows["superuser"])
    checked = []
    for model, model_admin in _registered():
        if not model_admin.has_add_permission(request):
            continue
        url = _url(model, "add")
        assert _get(browser, url).status_code == 200, url
        before = model._default_manager.count()
        response = browser.post(url, {})
        assert response.status_code < 500, f"POST {url} (empty): {response.status_code}"
        if response.status_code == 200:
            assert "errornote" in response.content.decode(), f"POST {url} (empty) shows no error"
        assert model._default_manager.count() == before or model._meta.label_lower == "llmrouter.routerweights", url
        checked.append(model._meta.label_lower)
    assert {"llmrouter.provider", "llmrouter.budget", "agents.agenttype", "auth.user"} <= set(checked)


# A provider add form that is valid as it stands (each case below changes what it tests).
PROVIDER_FORM = {
    "cost_per_1m": "1",
    "context_window": "10",
    "latency_ms": "5",
    "quality": "0.5",
    "capabilities": '["coding"]',
    "display_order": "0",
    "health_state": "healthy",
}


@pytest.mark.parametrize(
    ("view", "data", "message"),
    [
        (
            "llmrouter_provider_add",
            {
                "key": "x y",
                "name": "X",
                "cost_per_1m": "-1",
                "context_window": "0",
                "latency_ms": "-5",
                "quality": "1.5",
                "capabilities": "coding",
                "display_order": "0",
                "health_state": "healthy",
            },
            "Enter a valid JSON",
        ),
        (
            "llmrouter_provider_add",
            {**PROVIDER_FORM, "key": "claude-sonnet-4", "name": "Dup"},
            "already exists",
        ),
        # The admin refuses what the REST API refuses: an API base the gateway cannot call (it used to be saved,
        # and every call to the provider then failed), and the key "auto", the gateway's "router picks" model.
        (
            "llmrouter_provider_add",
            {**PROVIDER_FORM, "key": "walk-x", "name": "X", "api_format": "openai", "api_base": "not a url"},
            "Enter an http:// or https:// URL (or nothing: not called).",
        ),
        (
            "llmrouter_provider_add",
            {
                **PROVIDER_FORM,
                "key": "walk-y",
                "name": "Y",
                "api_format": "openai",
                "health_url": "ftp://example.com/health",
            },
            "Enter an http:// or https:// URL (or nothing: no check).",
        ),
        (
            "llmrouter_provider_add",
            {**PROVIDER_FORM, "key": "auto", "name": "Auto", "api_format": "openai"},
            "is reserved",
        ),
        (
            "llmrouter_budget_add",
            {"name": "b2", "amount": "-3", "period": "daily", "timezone": "Mars/Olympus", "warning_threshold": "2"},
            "Unknown time zone",
        ),
        ("agents_agenttype_add", {"name": "naming", "description": "dup", "config": "{}"}, "already exists"),
        ("agents_agenttype_add", {"name": "bad name!", "config": "not json"}, "Enter a valid"),
    ],
)
def test_bad_values_in_add_forms_come_back_with_clear_messages(
    browser: Client, view: str, data: dict[str, str], message: str
) -> None:
    response = browser.post(reverse(f"admin:{view}"), data)
    assert response.status_code == 200, response.status_code
    assert message in response.content.decode()


def test_deleting_a_provider_that_has_routes_and_ledger_entries_is_refused_or_done_never_a_500(browser: Client) -> None:
    from llmrouter.models import LedgerEntry, Provider

    key = LedgerEntry.objects.exclude(provider_key="").values_list("provider_key", flat=True).first()
    provider = Provider.objects.get(key=key)
    url = _url(Provider, "delete", provider.pk)
    assert _get(browser, url).status_code == 200
    assert browser.post(url, {"post": "yes"}).status_code < 500


def test_dashboard_live_page_and_front_page_render(browser: Client) -> None:
    for url in (
        "/",
        reverse("admin:index"),
        reverse("admin-dashboard"),
        reverse("admin:agents_agentinstance_live"),
        reverse("admin:app_list", args=("llmrouter",)),
    ):
        assert _get(browser, url).status_code == 200, url


def _form_value(value: Any) -> str:
    """How a browser posts a model value back: checkboxes as "on", JSON fields as JSON text."""
    if value is True:
        return "on"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


@pytest.mark.parametrize(
    ("model_path", "lookup", "changes", "message"),
    [
        (
            "llmrouter.Provider",
            {"key": "gpt-4-turbo"},
            {"quality": "2", "context_window": "0"},
            "Ensure this value is less than or equal to 1.0",
        ),
        ("llmrouter.Provider", {"key": "gpt-4-turbo"}, {"capabilities": '"coding"'}, "Capabilities must be a list"),
        ("llmrouter.Budget", {}, {"timezone": "Nowhere/Land", "amount": "-1"}, "Unknown time zone"),
        ("llmrouter.RouterWeights", {}, {"cost_scale": "0"}, "Ensure this value is greater than or equal to"),
        ("agents.AgentType", {"name": "naming"}, {"config": "[1,"}, "Enter a valid JSON"),
    ],
)
def test_bad_values_in_change_forms_come_back_with_clear_messages(
    browser: Client, model_path: str, lookup: dict[str, str], changes: dict[str, str], message: str
) -> None:
    from django.apps import apps
    from django.forms.models import model_to_dict

    model = apps.get_model(model_path)
    obj = model._default_manager.filter(**lookup).first()
    data = {key: _form_value(value) for key, value in model_to_dict(obj).items() if value not in (None, False, "")}
    before = model_to_dict(obj)
    response = browser.post(_url(model, "change", obj.pk), {**data, **changes})
    assert response.status_code == 200, response.status_code
    assert message in response.content.decode()
    obj.refresh_from_db()
    assert model_to_dict(obj) == before  # nothing saved
    # The same form with its own values saves (a redirect back to the list).
    assert browser.post(_url(model, "change", obj.pk), data).status_code == 302


def test_provider_list_editing_with_a_bad_value_is_a_form_error(browser: Client) -> None:
    from llmrouter.models import Provider

    providers = list(Provider.objects.order_by("display_order", "key"))
    data = {"form-TOTAL_FORMS": str(len(providers)), "form-INITIAL_FORMS": str(len(providers)), "_save": "Save"}
    for i, provider in enumerate(providers):
        data[f"form-{i}-id"] = str(provider.pk)
        data[f"form-{i}-display_order"] = "not a number" if i == 0 else str(provider.display_order)
        if provider.enabled:
            data[f"form-{i}-enabled"] = "on"
    response = browser.post(_url(Provider, "changelist"), data)
    assert response.status_code == 200 and "Enter a whole number" in response.content.decode()


def test_route_log_detail_shows_the_candidates_as_a_table_with_the_winner_marked(browser: Client) -> None:
    from llmrouter.models import RouteLog

    log = RouteLog.objects.filter(outcome=RouteLog.OUTCOME_ROUTED, task_type="coding").get()
    page = browser.get(_url(RouteLog, "change", log.pk)).content.decode()
    table = page[page.index('<table class="candidates">') :]
    table = table[: table.index("</table>")]
    rows = table.split("<tr")[2:]  # after the header row
    assert len(rows) == 4
    winner = [row for row in rows if "candidate-winner" in row]
    assert len(winner) == 1 and "local-llama" in winner[0] and "0.6048" in winner[0]
    assert "winner" in winner[0]
    by_provider = {key: row for row in rows for key in ("claude-sonnet-4", "gpt-4-turbo", "gemini-pro") if key in row}
    assert ">0.1368<" in by_provider["claude-sonnet-4"] and ">0.3024<" in by_provider["gpt-4-turbo"]
    assert "$0.075<" in by_provider["claude-sonnet-4"]  # 5000 tokens at $15 per 1M, exact
    assert "does not support coding tasks" in by_provider["gemini-pro"]
    assert "13679999" not in page
    for header in ("provider", "quality", "cost factor", "latency factor", "score", "cost", "excluded because"):
        assert f"<th>{header}</th>" in table


def test_route_log_logged_with_float_noise_is_shown_rounded(browser: Client) -> None:
    from llmrouter.models import RouteLog

    log = RouteLog.objects.filter(task_type="coding").get()
    noisy = [dict(c, score=0.13679999999999998) if c["provider"] == "claude-sonnet-4" else c for c in log.candidates]
    RouteLog.objects.filter(pk=log.pk).update(candidates=noisy, confidence=0.60480000000000001)
    page = browser.get(_url(RouteLog, "change", log.pk)).content.decode()
    assert "0.13679999999999998" not in page and ">0.1368<" in page


def test_a_second_api_token_for_one_user_is_a_form_error(browser: Client, rows: Any) -> None:
    response = browser.post(reverse("admin:authtoken_tokenproxy_add"), {"user": str(rows["superuser"].pk)})
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_the_provider_form_spells_api_as_api(browser: Client) -> None:
    page = browser.get(reverse("admin:llmrouter_provider_add")).content.decode()
    # Django capitalises only the first letter of a field's name: "Api format" next to "API base URL".
    assert ">API format:</label>" in page and ">API base URL:</label>" in page and "Api format" not in page
