"""scripts/run_system.py's environment, directories and refusals (no supervisord started here)."""

from __future__ import annotations

import importlib.util
import re
import socket
import stat
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_system = load_script("run_system")


def test_defaults_fill_every_variable_supervisord_conf_expands():
    env = run_system.system_env({})
    lines = (ROOT / "supervisord.conf").read_text().splitlines()
    conf = "\n".join(line for line in lines if not line.lstrip().startswith(";"))
    needed = set(re.findall(r"%\(ENV_([A-Z_]+)\)s", conf))
    assert needed <= set(env), needed - set(env)
    assert env["ORCHESTRATOR_HTTP_PORT"] == "8090" and env["ORCHESTRATOR_HTTP_HOST"] == "127.0.0.1"
    assert env["ORCHESTRATOR_PYTHON"] == sys.executable
    assert env["ORCHESTRATOR_LOG_DIR"] == str(Path(env["ORCHESTRATOR_VAR_DIR"]) / "log")


def test_the_environment_wins_over_defaults_and_stopwaitsecs_follows_the_drain():
    env = run_system.system_env(
        {"ORCHESTRATOR_HTTP_PORT": "9999", "ORCHESTRATOR_SOCKET_DIR": "/tmp/x", "AGENT_DRAIN_TIMEOUT_S": "25"}
    )
    assert env["ORCHESTRATOR_HTTP_PORT"] == "9999" and env["ORCHESTRATOR_SOCKET_DIR"] == "/tmp/x"
    assert int(env["ORCHESTRATOR_STOPWAITSECS"]) > 25


def test_the_control_link_points_at_the_socket_in_the_private_dir(tmp_path):
    config = tmp_path / "supervisord.conf"
    config.write_text("")
    env = {"ORCHESTRATOR_SOCKET_DIR": str(tmp_path / "s")}
    link = run_system.link_control_socket(config, env)
    assert link == tmp_path / "var" / "supervisor.sock" and link.is_symlink()
    assert Path(link.readlink()) == tmp_path / "s" / "supervisor.sock"
    # Pointing elsewhere later replaces the link.
    run_system.link_control_socket(config, {"ORCHESTRATOR_SOCKET_DIR": str(tmp_path / "t")})
    assert Path(link.readlink()) == tmp_path / "t" / "supervisor.sock"


def test_a_socket_dir_others_can_enter_is_made_private(tmp_path):
    directory = tmp_path / "s"
    directory.mkdir(mode=0o777)
    directory.chmod(0o777)
    run_system.ensure_private_dir(directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_refuses_to_start_when_the_http_port_is_taken(tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = run_system.system_env({"ORCHESTRATOR_SOCKET_DIR": str(tmp_path), "ORCHESTRATOR_HTTP_PORT": str(port)})
        with pytest.raises(SystemExit):
            run_system.preflight(env)
    assert f"port 127.0.0.1:{port} is in use" in capsys.readouterr().err


def test_refuses_to_start_when_a_supervisord_answers_on_the_control_socket(tmp_path, capsys):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as live:
        live.bind(str(tmp_path / "supervisor.sock"))
        live.listen()
        env = run_system.system_env({"ORCHESTRATOR_SOCKET_DIR": str(tmp_path), "ORCHESTRATOR_HTTP_PORT": "0"})
        with pytest.raises(SystemExit):
            run_system.preflight(env)
    assert "supervisord already runs" in capsys.readouterr().err


@pytest.mark.django_db
def test_the_first_banner_prints_the_admin_api_token_next_to_its_password(monkeypatch):
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    get_user_model().objects.create_superuser("admin", "", "pw")
    token = run_system.admin_token("admin")
    assert Token.objects.get(user__username="admin").key == token == run_system.admin_token("admin")
    env = run_system.system_env({})
    first = run_system.banner(env, ROOT / "supervisord.conf", ("admin", "pw", True), token)
    assert "admin / pw" in first and f"API token:    {token}" in first and "/v1/" in first
    later = run_system.banner(env, ROOT / "supervisord.conf", ("admin", None, False))
    assert "API token" not in later
