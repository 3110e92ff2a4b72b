"""settings.py reads the environment, strictly: a malformed value stops the process and names the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from orchestrator_common.paths import PROJECT_ROOT

_SHOW = (
    "import django; django.setup(); from django.conf import settings; from agents.manager.conf import "
    "manager_settings; ms = manager_settings({}); "
    "print(settings.AGENTS['DRAIN_TIMEOUT_S'], ms.stale_after_s, ms.supervisor_socket, "
    "settings.AGENTS['TOKEN_DIR'])"
)


def _settings(**env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings", "DJANGO_WEB_APPS": "0", **env}
    return subprocess.run(
        [sys.executable, "-c", _SHOW], cwd=PROJECT_ROOT, env=full, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("name", ["MANAGER_STALE_AFTER_S", "AGENT_HEARTBEAT_INTERVAL_S", "AGENT_DRAIN_TIMEOUT_S"])
def test_a_malformed_agent_variable_stops_the_process_naming_it(name):
    # The manager used to replace a malformed MANAGER_STALE_AFTER_S / AGENT_HEARTBEAT_INTERVAL_S by its default.
    proc = _settings(**{name: "soon"})
    assert proc.returncode != 0
    assert f"{name}='soon' is not a number" in proc.stderr


def test_the_agent_variables_reach_the_settings_and_the_manager(tmp_path):
    proc = _settings(
        AGENT_DRAIN_TIMEOUT_S="25",
        AGENT_HEARTBEAT_INTERVAL_S="2",
        SUPERVISOR_SOCKET="/run/s.sock",
        AGENT_TOKEN_DIR=str(tmp_path / "tokens"),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["25.0", "6.0", "/run/s.sock", str(tmp_path / "tokens")]
