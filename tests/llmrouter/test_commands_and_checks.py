"""manage.py route, and the system checks."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from llmrouter import checks
from llmrouter.models import Budget, Provider, RouteLog


def test_route_command_prints_the_decision_and_a_candidate_table(seed_router, capsys):
    call_command("route", "--tokens", "5000", "--task", "coding", "--priority", "high", "--max-latency", "3000")
    out = capsys.readouterr().out
    assert "Provider:       Local Llama (local-llama)" in out
    assert "Confidence:     0.6048" in out
    assert "excluded: does not support coding tasks" in out
    assert [line for line in out.splitlines() if line.startswith("* ")][0].split()[1] == "local-llama"
    assert RouteLog.objects.get().interface == "cli"


def test_route_command_dry_run_touches_nothing(seed_router, capsys):
    call_command("route", "--tokens", "5000", "--task", "analysis", "--dry-run")
    assert "Gemini Pro (gemini-pro) (dry run)" in capsys.readouterr().out
    assert not RouteLog.objects.exists()


def test_route_command_reports_refusals(seed_router, capsys):
    with pytest.raises(CommandError, match="NO_SUITABLE_PROVIDER"):
        call_command("route", "--tokens", "5", "--task", "vision")
    assert "excluded:" in capsys.readouterr().out


def test_settings_checks_catch_bad_configuration(settings):
    assert checks.check_settings(None) == []  # settings.py's own LLMROUTER
    bad = {"ROUTE_WORKERS": -1, "HEALTH_CHECK_TIMEOUT_S": 0, "UNHEALTHY_AFTER_FAILURES": 0, "TYPO": 1}
    settings.LLMROUTER = {**settings.LLMROUTER, **bad}
    ids = {e.id for e in checks.check_settings(None)}
    assert ids == {"llmrouter.E002", "llmrouter.E003", "llmrouter.E004", "llmrouter.E005"}
    # settings.py is the only home of the defaults, so a key left out is an error, not a silent fallback.
    settings.LLMROUTER = {}
    [missing] = checks.check_settings(None)
    assert missing.id == "llmrouter.E007" and "ROUTE_WORKERS" in missing.msg


def test_database_checks_catch_bad_rows(seed_router):
    assert checks.check_data(None) == []
    Budget.objects.update(timezone="Mars/Base")
    Provider.objects.filter(key="local-llama").update(capabilities="coding")
    ids = {e.id for e in checks.check_data(None)}
    assert ids == {"llmrouter.E010", "llmrouter.E013"}
    Budget.objects.update(active=False)
    Provider.objects.update(enabled=False)
    assert {"llmrouter.W001", "llmrouter.W002"} <= {e.id for e in checks.check_data(None)}
