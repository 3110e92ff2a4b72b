"""The admin shows allocations (list filters, search) and refuses hand-made ones."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from agents.naming import services

from .conftest import SETTINGS

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests")
    client.force_login(user)
    return client


def test_namespace_changelist_filters_and_searches(admin_client, project):
    first = services.namespace_allocate(project=project, environment="test", settings=SETTINGS).obj
    services.namespace_allocate(project=project, environment="prod", settings=SETTINGS)
    page = admin_client.get("/admin/naming/namespace/", {"environment": "test", "project": project})
    assert page.status_code == 200
    body = page.content.decode()
    assert first.name in body and f"{project}.prod.ns1" not in body
    found = admin_client.get("/admin/naming/namespace/", {"q": first.cid})
    assert found.status_code == 200 and first.name in found.content.decode()


def test_allocations_cannot_be_added_by_hand(admin_client):
    for model in ("namespace", "capability", "session", "sequencecounter"):
        assert admin_client.get(f"/admin/naming/{model}/add/").status_code == 403


def test_capability_session_and_counter_pages_render(admin_client, project):
    cap = services.capability_allocate(domain="adm", name="Admin Page", project=project, settings=SETTINGS).obj
    session = services.session_allocate(project=project, settings=SETTINGS).obj
    assert cap.capability_id in admin_client.get("/admin/naming/capability/", {"domain": "ADM"}).content.decode()
    assert session.session_id in admin_client.get("/admin/naming/session/", {"q": session.session_id}).content.decode()
    assert admin_client.get(f"/admin/naming/capability/{cap.pk}/change/").status_code == 200
    assert "capability:ADM" in admin_client.get("/admin/naming/sequencecounter/").content.decode()


def test_system_check_warns_about_an_unusable_naming_config():
    from agents.models import AgentType
    from agents.naming.checks import check_naming_config

    AgentType.objects.update_or_create(name="naming", defaults={"config": {"environments": []}})
    assert [w.id for w in check_naming_config(databases=["default"])] == ["naming.W001"]
    AgentType.objects.filter(name="naming").update(config={"environments": ["dev"]})
    assert check_naming_config(databases=["default"]) == []
