"""The admin's live agents page and its restart button (staff only)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live_settings(settings, sandbox, private_sockets):
    # The web process finds supervisor in the socket directory, like the real one.
    (private_sockets / "supervisor.sock").symlink_to(sandbox.socket)
    return settings


def test_live_page_shows_every_supervised_process(agent_types, live_settings, admin_client):
    response = admin_client.get(reverse("admin:agents_agentinstance_live"))
    assert response.status_code == 200
    body = response.content.decode()
    for name in ("agents:naming-1", "agents:naming-2", "agents:manager", "web"):
        assert name in body
    assert "Restart" in body


def test_restart_button_restarts_the_process(agent_types, live_settings, admin_client, sandbox):
    before = sandbox.client().process("agents:naming-1").pid
    response = admin_client.post(
        reverse("admin:agents_agentinstance_control"), {"operation": "restart", "name": "agents:naming-1"}, follow=True
    )
    assert response.status_code == 200
    after = sandbox.client().process("agents:naming-1")
    assert after.state == "RUNNING" and after.pid != before
    assert f"naming-1 restarted (pid {after.pid}, was {before})" in response.content.decode()


def test_stop_button_says_which_pid_it_stopped_not_pid_none(agent_types, live_settings, admin_client, sandbox):
    before = sandbox.client().process("agents:naming-2").pid
    response = admin_client.post(
        reverse("admin:agents_agentinstance_control"), {"operation": "stop", "name": "agents:naming-2"}, follow=True
    )
    body = response.content.decode()
    assert f"naming-2 stopped (was pid {before})" in body and "pid None" not in body


def test_staff_without_change_permission_cannot_restart(agent_types, live_settings, client, sandbox):
    user = get_user_model().objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    client.force_login(user)
    before = sandbox.client().process("agents:naming-1").pid
    response = client.post(
        reverse("admin:agents_agentinstance_control"), {"operation": "restart", "name": "agents:naming-1"}
    )
    assert response.status_code == 403
    assert sandbox.client().process("agents:naming-1").pid == before


def test_anonymous_users_are_sent_to_the_login_page(agent_types, live_settings, client):
    response = client.get(reverse("admin:agents_agentinstance_live"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_live_page_refreshes_itself_from_its_fragment(agent_types, live_settings, admin_client, sandbox):
    page = admin_client.get(reverse("admin:agents_agentinstance_live")).content.decode()
    assert 'id="live-picture"' in page and 'data-url="/admin/agents/agentinstance/live/?fragment=1"' in page
    assert "new WebSocket(" in page and "agent_connected" in page and "setInterval(" in page
    before = sandbox.client().process("agents:naming-1").pid
    assert f"<td>{before}</td>" in page
    sandbox.client().stop("agents:naming-1")
    sandbox.client().start("agents:naming-1")
    after = sandbox.client().process("agents:naming-1").pid
    fragment = admin_client.get(reverse("admin:agents_agentinstance_live") + "?fragment=1")
    assert fragment.status_code == 200 and "no-store" in fragment["Cache-Control"]
    body = fragment.content.decode()
    assert "<html" not in body and "<script" not in body  # only the picture, to swap in
    assert f"<td>{after}</td>" in body and f"<td>{before}</td>" not in body
    assert "icon-yes" in body or "icon-no" in body  # the Connected column as the admin's icons


def test_live_fragment_needs_a_login_like_the_page(agent_types, live_settings, client):
    response = client.get(reverse("admin:agents_agentinstance_live") + "?fragment=1")
    assert response.status_code == 302 and "/login/" in response["Location"]
