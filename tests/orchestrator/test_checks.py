"""The orchestrator's system checks catch settings that parse but cannot work."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.checks.registry import registry

from agents.models import AgentType
from orchestrator_common.paths import PROJECT_ROOT
from orchestrator_site.orchestrator.checks import check_agent_socket_paths, check_orchestrator_settings


def _ids(databases: list[str] | None = None) -> set[str | None]:
    messages = check_orchestrator_settings(None) + check_agent_socket_paths(None, databases=databases)
    return {message.id for message in messages}


def test_the_checks_are_registered_with_django():
    assert check_orchestrator_settings in registry.get_checks()
    assert check_agent_socket_paths in registry.get_checks(include_deployment_checks=False)


def test_the_default_settings_pass():
    assert _ids() == set()


def test_a_socket_directory_too_long_for_af_unix_is_e002(settings, tmp_path):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": tmp_path / ("d" * 100)}
    messages = [m for m in check_orchestrator_settings(None) if m.id == "orchestrator.E002"]
    assert messages and "107 bytes" in messages[0].msg and "ORCHESTRATOR_SOCKET_DIR" in messages[0].hint


@pytest.mark.parametrize(
    "conf,key",
    [
        ("ORCHESTRATOR", "DRAIN_TIMEOUT_S"),
        ("ORCHESTRATOR", "REQUEST_TIMEOUT_MS"),
        ("ORCHESTRATOR", "CLIENT_SILENT_TIMEOUT_S"),
        ("AGENTS", "DRAIN_TIMEOUT_S"),
        ("AGENTS", "HEARTBEAT_INTERVAL_S"),
    ],
)
def test_a_negative_timeout_is_e003(settings, conf, key):
    setattr(settings, conf, {**getattr(settings, conf), key: -1})
    assert _ids() == {"orchestrator.E003"}


def test_a_zero_request_timeout_is_e003_but_a_zero_drain_is_fine(settings):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "DRAIN_TIMEOUT_S": 0, "CLIENT_SILENT_TIMEOUT_S": 0}
    assert _ids() == set()
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "REQUEST_TIMEOUT_MS": 0}
    assert _ids() == {"orchestrator.E003"}


@pytest.mark.parametrize("value", [-1, 0, "1024", True, 512])
def test_a_frame_limit_below_1024_or_not_an_integer_is_e004(settings, value):
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "MAX_FRAME_BYTES": value}
    assert _ids() == {"orchestrator.E004"}


def test_orchestrator_settings_without_a_socket_dir_are_e001(settings):
    settings.ORCHESTRATOR = {"MAX_FRAME_BYTES": 1024 * 1024}
    assert _ids() == {"orchestrator.E001"}


@pytest.mark.django_db
def test_an_agent_type_whose_socket_is_too_long_is_e006_with_the_database(settings, tmp_path):
    # The client socket fits (orchestrator.sock); a 40-character type name does not.
    directory = tmp_path / ("d" * max(1, 107 - len(str(tmp_path)) - 1 - len("orchestrator.sock") - 1))
    settings.ORCHESTRATOR = {**settings.ORCHESTRATOR, "SOCKET_DIR": directory}
    AgentType.objects.create(name="t" * 40)
    assert "orchestrator.E006" not in _ids()  # without --database the rows are not read
    assert _ids(databases=["default"]) == {"orchestrator.E006"}


def test_migrate_on_an_empty_database_is_not_stopped_by_the_database_check(tmp_path):
    # ``migrate`` runs the database checks before it creates agents_agenttype.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.sqlite3'}", "DJANGO_WEB_APPS": "0"}
    proc = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
