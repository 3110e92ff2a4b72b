#!/usr/bin/env python3
"""Run the whole system under supervisor, in the foreground.

Called by ``python3 dev.py run`` (inside .venv) and usable on its own:

    .venv/bin/python scripts/run_system.py [--config supervisord.conf]

Steps: compute the environment supervisord.conf expands (socket directory,
log directory, ports, interpreter) from the process environment with
single-machine defaults; create the private directories; apply migrations
and default data; collect the static files if that was never done; make sure
an admin user exists (a generated password is printed once); point ``var/supervisor.sock`` (next to the config file) at
supervisord's control socket so a bare ``supervisorctl -c supervisord.conf``
finds it; print where to go; exec ``supervisord -n``. Ctrl-C (SIGINT) or
SIGTERM stops supervisord, which stops every program gracefully.
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import socket
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agents.protocol import DEFAULT_MAX_FRAME_BYTES, websocket_message_limit  # noqa: E402
from orchestrator_common.paths import default_socket_dir, socket_path  # noqa: E402  (needs ROOT on sys.path)

DEFAULT_HTTP_PORT = "8090"
DEFAULT_HTTP_HOST = "127.0.0.1"
# supervisor waits this much longer than the longest drain before SIGKILL.
STOP_MARGIN_S = 10.0


def say(message: str) -> None:
    print(f"[run] {message}", flush=True)


def die(message: str) -> None:
    print(f"[run] ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- environment ------------------------------------------------------------------


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        die(f"{name}={raw!r} is not a number")
        raise  # unreachable; keeps type checkers quiet


def system_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment supervisord and every program get: ``base`` plus computed defaults.

    Values already in ``base`` win, so an operator (or a test) can move any
    path or port with an environment variable.
    """
    env = dict(os.environ if base is None else base)
    var_dir = Path(env.get("ORCHESTRATOR_VAR_DIR") or ROOT / "var")
    env.setdefault("ORCHESTRATOR_ROOT", str(ROOT))
    env.setdefault("ORCHESTRATOR_PYTHON", sys.executable)
    env.setdefault("ORCHESTRATOR_VAR_DIR", str(var_dir))
    env.setdefault("ORCHESTRATOR_SOCKET_DIR", str(default_socket_dir()))
    env.setdefault("ORCHESTRATOR_LOG_DIR", str(var_dir / "log"))
    env.setdefault("ORCHESTRATOR_HTTP_HOST", DEFAULT_HTTP_HOST)
    env.setdefault("ORCHESTRATOR_HTTP_PORT", DEFAULT_HTTP_PORT)
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")
    if "ORCHESTRATOR_WS_MAX_MESSAGE_BYTES" not in env:
        frame = int(_float(env, "ORCHESTRATOR_MAX_FRAME_BYTES", DEFAULT_MAX_FRAME_BYTES))
        env["ORCHESTRATOR_WS_MAX_MESSAGE_BYTES"] = str(websocket_message_limit(frame))
    if "ORCHESTRATOR_STOPWAITSECS" not in env:
        drain = max(_float(env, "ORCHESTRATOR_DRAIN_TIMEOUT_S", 10.0), _float(env, "AGENT_DRAIN_TIMEOUT_S", 10.0))
        env["ORCHESTRATOR_STOPWAITSECS"] = str(math.ceil(drain + STOP_MARGIN_S))
    return env


def control_socket(env: Mapping[str, str]) -> Path:
    return socket_path("supervisor", env["ORCHESTRATOR_SOCKET_DIR"])


def control_link(config: Path) -> Path:
    """Where supervisord.conf's [supervisorctl] serverurl points (%(here)s/var/supervisor.sock)."""
    return socket_path("supervisor", config.resolve().parent / "var")


# --- directories and sockets ----------------------------------------------------------


def ensure_private_dir(path: Path) -> None:
    """Create a 0700 directory, or accept an existing one only the owner can write to."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid():
        die(f"{path} belongs to another user; set ORCHESTRATOR_SOCKET_DIR to a directory of your own")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH | stat.S_IRWXO):
        path.chmod(0o700)


def socket_answers(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def link_control_socket(config: Path, env: Mapping[str, str]) -> Path:
    """Point var/supervisor.sock (next to the config) at the real control socket.

    connect() follows the symlink, and the real socket stays inside the 0700
    directory, so the link grants nobody anything.
    """
    link = control_link(config)
    link.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = control_socket(env)
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return link
        link.unlink()
    link.symlink_to(target)
    return link


def preflight(env: Mapping[str, str]) -> None:
    socket_dir = Path(env["ORCHESTRATOR_SOCKET_DIR"])
    if len(str(control_socket(env))) >= 100 or len(str(socket_path("agent", socket_dir, "semantic"))) >= 104:
        die(f"socket directory {socket_dir} is too long for AF_UNIX; set ORCHESTRATOR_SOCKET_DIR to a shorter path")
    if socket_answers(control_socket(env)):
        die(
            f"supervisord already runs on {control_socket(env)}; "
            "use supervisorctl -c supervisord.conf status (or stop it first)"
        )
    if socket_answers(socket_path("client", socket_dir)):
        die(f"an orchestrator already answers on {socket_path('client', socket_dir)}; stop it first")
    host, port = env["ORCHESTRATOR_HTTP_HOST"], int(env["ORCHESTRATOR_HTTP_PORT"])
    if not port_free(host, port):
        die(f"port {host}:{port} is in use; stop what holds it or set ORCHESTRATOR_HTTP_PORT")


# --- database and admin user -------------------------------------------------------------


def prepare_database(env: Mapping[str, str]) -> tuple[str, str | None, bool]:
    """Migrate (default data comes with the migrations) and ensure an admin user.

    Returns (username, password or None, created). The password is returned
    only when this call generated or set it, so it is shown exactly once.
    """
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    _collect_static_if_missing(call_command)
    User = get_user_model()
    wanted = env.get("DJANGO_SUPERUSER_USERNAME", "").strip()
    if not wanted:
        existing = User.objects.filter(is_superuser=True).order_by("pk").first()
        if existing is not None:
            return existing.get_username(), None, False
        wanted = "admin"
    if User.objects.filter(**{User.USERNAME_FIELD: wanted}).exists():
        return wanted, None, False
    password = env.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(12)
    User.objects.create_superuser(wanted, env.get("DJANGO_SUPERUSER_EMAIL", ""), password)
    return wanted, password, True


def _collect_static_if_missing(call_command: Any) -> None:
    """Without collected files every admin page would fail on its {% static %} links.

    dev.py run collects (and re-collects when packages change) before it gets here;
    this covers running this script on its own after a fresh checkout.
    """
    from django.conf import settings

    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        say(f"collecting static files into {settings.STATIC_ROOT}")
        call_command("collectstatic", interactive=False, verbosity=0)


def admin_token(username: str) -> str:
    """The admin user's API token (made now if it has none): what the OpenAI clients send as api_key."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=get_user_model().objects.get_by_natural_key(username))
    return token.key


def close_database() -> None:
    # Nothing of this process's database state may leak into supervisord via exec.
    from django.db import connections

    connections.close_all()


def banner(env: Mapping[str, str], config: Path, user: tuple[str, str | None, bool], token: str | None = None) -> str:
    username, password, created = user
    url = f"http://{env['ORCHESTRATOR_HTTP_HOST']}:{env['ORCHESTRATOR_HTTP_PORT']}"
    ctl = f"{Path(env['ORCHESTRATOR_PYTHON']).parent / 'supervisorctl'} -c {config}"
    lines = ["", "=" * 72, f"  Front page:   {url}/", f"  Admin:        {url}/admin/"]
    if created and password and not os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
        lines += [
            f"  Log in as:    {username} / {password}",
            "                (generated now and shown only this once; change it with",
            f"                 manage.py changepassword {username})",
        ]
        if token:
            lines += [
                f"  API token:    {token}",
                f"                (for the REST API and the LLM gateway at {url}/v1/;",
                f"                 manage.py create_api_token {username} prints it again)",
            ]
    elif created:
        lines.append(f"  Log in as:    {username} (password from DJANGO_SUPERUSER_PASSWORD)")
    else:
        lines.append(f"  Log in as:    {username} (existing user; manage.py changepassword {username} resets it)")
    lines += [
        f"  Health:       {url}/health",
        f"  Sockets:      {env['ORCHESTRATOR_SOCKET_DIR']}  (orchestrator.sock, orchestrator-<type>.sock)",
        f"  Logs:         {env['ORCHESTRATOR_LOG_DIR']}",
        f"  Control:      {ctl} status",
        "                (from the project root: .venv/bin/supervisorctl -c supervisord.conf status)",
        "  Stop:         Ctrl-C here, or supervisorctl ... shutdown",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)


def supervisord_binary(env: Mapping[str, str]) -> str:
    candidate = Path(env["ORCHESTRATOR_PYTHON"]).parent / "supervisord"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("supervisord")
    if not found:
        die("supervisord is not installed in this environment; run python3 dev.py setup")
    return found  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--config",
        type=Path,
        default=ROOT / "supervisord.conf",
        help="supervisord configuration (default: supervisord.conf in the project root)",
    )
    args = parser.parse_args(argv)
    config = args.config.resolve()
    if not config.exists():
        die(f"{config} does not exist")

    env = system_env()
    ensure_private_dir(Path(env["ORCHESTRATOR_SOCKET_DIR"]))
    ensure_private_dir(Path(env["ORCHESTRATOR_LOG_DIR"]))
    preflight(env)
    user = prepare_database(env)
    # The first time (the admin user was just made), its API token is printed next to its password.
    token = admin_token(user[0]) if user[2] else None
    close_database()
    link_control_socket(config, env)
    print(banner(env, config, user, token), flush=True)
    binary = supervisord_binary(env)
    # The admin password has been used; no supervised process needs to inherit it.
    env.pop("DJANGO_SUPERUSER_PASSWORD", None)
    # exec: supervisord takes this pid, so Ctrl-C and SIGTERM reach it directly
    # and it stops its programs gracefully (no wrapper to SIGKILL it early).
    os.execve(binary, [binary, "-n", "-c", str(config)], env)
    return 0  # unreachable


if __name__ == "__main__":
    sys.exit(main())
