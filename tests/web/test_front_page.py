"""The front page at /: public, the same facts as /health, a link to every surface."""

from __future__ import annotations

import re
from typing import Any

from django.test import Client

from tests.support.system import System


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_front_page_shows_agents_spend_and_providers_to_anyone(
    orchestrator: System, transactional_db: Any, settings: Any
) -> None:
    from llmrouter import services
    from tests.llmrouter.conftest import load_seed

    load_seed()
    services.route_request(token_count=12_345, task_type="analysis")  # $0.086415 on Gemini Pro
    page = Client().get("/")
    assert page.status_code == 200 and page["content-type"].startswith("text/html")
    html = page.content.decode()
    text = _text(html)
    health = Client().get("/health").json()
    assert f"{health['agents']} agent instances connected" in text and health["agents"] >= 2
    assert re.search(r"naming 1 ", text) and re.search(r"probe 1 ", text)
    assert "$0.09 of $100.00 spent (0.09%), $99.91 left" in text
    for name in ("Claude Sonnet 4", "GPT-4 Turbo", "Gemini Pro", "Local Llama"):
        assert name in text
    for href in (
        "/admin/",
        "/admin/dashboard/",
        "/admin/agents/agentinstance/live/",
        "/api/docs/",
        "/health",
        "/metrics",
    ):
        assert f'href="{href}"' in html, href
    assert 'href="/admin/login/?next=/admin/"' in html  # anonymous: a way in
    assert "/static/admin/css/base." in html  # the admin's look
    assert str(orchestrator.socket_dir) not in html  # nothing /health would not tell


def test_front_page_shows_a_providers_open_circuit_next_to_its_health(
    orchestrator: System, transactional_db: Any, settings: Any
) -> None:
    from datetime import UTC, datetime, timedelta

    from llmrouter.models import Provider
    from tests.llmrouter.conftest import load_seed

    load_seed()
    until = datetime.now(UTC) + timedelta(minutes=5)
    Provider.objects.filter(key="local-llama").update(breaker_state="open", breaker_failures=3, breaker_until=until)
    html = Client().get("/").content.decode()
    providers = _text(html[html.index('id="front-providers"') : html.index('id="front-links"')])
    # The URL check says healthy (there is none); the gateway is not calling it: both are on the row.
    assert "Local Llama healthy no check URL open (cooling down)" in providers, providers
    assert "GPT-4 Turbo healthy no check URL closed" in providers, providers


def test_front_page_says_what_is_wrong_when_the_orchestrator_is_down(
    no_orchestrator: str, transactional_db: Any, settings: Any
) -> None:
    text = _text(Client().get("/").content.decode())
    assert "degraded" in text and "not reachable" in text
    assert "orchestrator unreachable" in text
    assert "0 agent instances connected" in text


def test_front_page_for_staff_keeps_the_admin_user_tools(orchestrator: System, admin_client: Client) -> None:
    html = admin_client.get("/").content.decode()
    assert "Log out" in html or "log out" in html.lower()
    assert 'href="/admin/login/' not in html
