#!/usr/bin/env python3
"""Set up and run the orchestrator, or its tests, on a machine with only Python.

    python3 dev.py run     # set up, then supervisord in the foreground (everything)
    python3 dev.py test    # set up, the checks of `lint`, then the test suite (extra args go to pytest)
    python3 dev.py lint    # only the checks: ruff check, ruff format --check, mypy (pyproject.toml)
    python3 dev.py setup   # only the set-up steps

Set-up is idempotent: a virtualenv in .venv, the pinned packages (reinstalled
only when requirements.txt changes), migrations and default data, the static
files collected into var/static (again only when their sources change), a local
Redis server when REDIS_URL points at this machine and nothing answers there.
This file uses only the standard library until it re-executes inside .venv.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
VAR = ROOT / "var"
PY = VENV / "bin" / "python"


def say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def die(message: str) -> NoReturn:
    print(f"[dev] ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


# --- virtualenv and packages ------------------------------------------------------


def ensure_venv() -> None:
    if not PY.exists():
        say(f"creating virtualenv in {VENV.name}/")
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except Exception as exc:  # ensurepip missing on some distributions
            die(f"could not create a virtualenv ({exc}); install your distribution's python3-venv package")
    requirements = ROOT / "requirements.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = VENV / ".requirements.sha256"
    if stamp.exists() and stamp.read_text() == digest:
        return
    say("installing pinned packages from requirements.txt (first run takes a minute)")
    cmd = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(requirements)]
    if subprocess.call(cmd) != 0:
        die("pip could not install requirements.txt; check your network or package index settings")
    stamp.write_text(digest)


def ensure_editable_install() -> None:
    """The project itself in .venv (editable, pyproject.toml), so its packages import from any directory."""
    pyproject = ROOT / "pyproject.toml"
    digest = hashlib.sha256(pyproject.read_bytes() + str(ROOT).encode()).hexdigest()
    stamp = VENV / ".editable.sha256"
    if stamp.exists() and stamp.read_text() == digest:
        return
    say("installing the project into .venv in editable mode (pyproject.toml)")
    cmd = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", "-e", str(ROOT)]
    if subprocess.call(cmd) != 0:
        die("pip could not install the project in editable mode (pip install --no-deps -e .)")
    stamp.write_text(digest)


# --- Redis ------------------------------------------------------------------------------


def redis_address() -> tuple[str, int, bool]:
    url = urlparse(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    host = url.hostname or "127.0.0.1"
    port = url.port or 6379
    return host, port, host in ("127.0.0.1", "localhost", "::1")


def redis_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def apt_install(package: str, command: str) -> str | None:
    """``command``'s path, installing Debian's ``package`` first when we are root with apt-get."""
    found = shutil.which(command)
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    say(f"{command} not found; installing Debian's {package} package")
    install = ["apt-get", "install", "-y", "-q", package]
    quiet = subprocess.DEVNULL
    if subprocess.call(install, stdout=quiet, stderr=quiet) != 0:
        # A fresh machine may have no package lists yet.
        subprocess.call(["apt-get", "update", "-q"], stdout=quiet, stderr=quiet)
        subprocess.call(install, stdout=quiet, stderr=quiet)
    return shutil.which(command)


def find_redis_server() -> str | None:
    return apt_install("redis-server", "redis-server")


def ensure_netcat_for_tests() -> None:
    """The README's smoke test is an ``nc -U`` command; the e2e tests run it when nc is there."""
    if apt_install("netcat-openbsd", "nc") is None:
        say("nc (netcat-openbsd) is not installed: the two nc smoke tests will be skipped")


def ensure_chromium_for_tests() -> None:
    """The browser test drives Debian's Chromium through its chromedriver (no driver download)."""
    browser = apt_install("chromium", "chromium")
    driver = apt_install("chromium-driver", "chromedriver")
    if browser is None or driver is None:
        say(
            "chromium / chromium-driver are not installed: the browser test (tests/e2e/test_browser.py) will be skipped"
        )


def ensure_redis_for_tests() -> None:
    """Tests need a Redis: start a throwaway one when the configured local one is silent."""
    host, port, local = redis_address()
    if redis_answers(host, port):
        return
    if not local:
        die(f"REDIS_URL points at {host}:{port} and nothing answers there")
    binary = find_redis_server()
    if not binary:
        die(
            "no Redis answers and redis-server is not installed: install it (apt-get install redis-server)"
            " or set REDIS_URL to a running server"
        )
    VAR.mkdir(mode=0o700, exist_ok=True)
    say(f"starting redis-server on {host}:{port} for the tests")
    subprocess.check_call(
        [
            binary,
            "--daemonize",
            "yes",
            "--bind",
            host,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(VAR),
            "--logfile",
            str(VAR / "redis-test.log"),
        ]
    )
    for _ in range(50):
        if redis_answers(host, port):
            return
        time.sleep(0.1)
    die(f"redis-server did not answer on {host}:{port}; see var/redis-test.log")


# --- commands -------------------------------------------------------------------------


def manage(*args: str) -> None:
    code = subprocess.call([str(PY), str(ROOT / "manage.py"), *args], cwd=ROOT)
    if code != 0:
        die(f"manage.py {' '.join(args)} failed with exit code {code}")


def static_root() -> Path:
    """STATIC_ROOT as orchestrator_site/settings.py computes it."""
    return Path(os.environ.get("DJANGO_STATIC_ROOT") or VAR / "static")


def static_sources_digest() -> str:
    """What the collected files depend on: the pinned packages (admin, DRF) and the project's static/ dirs."""
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes())
    digest.update(str(static_root().resolve()).encode())
    # The project's own folders only: .venv's packages are covered by requirements.txt, var/ is the output.
    tops = sorted(d for d in ROOT.iterdir() if d.is_dir() and not d.name.startswith(".") and d != VAR)
    for folder in sorted(f for top in tops for f in top.rglob("static") if f.is_dir()):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


def collect_static() -> None:
    """collectstatic (hashed names, gzip/brotli copies: ~10 s of CPU), only when its sources changed."""
    root = static_root()
    stamp = root / ".sources.sha256"
    digest = static_sources_digest()
    if (root / "staticfiles.json").exists() and stamp.exists() and stamp.read_text() == digest:
        return
    say(f"collecting static files into {root}")
    manage("collectstatic", "--noinput", "--clear", "-v", "0")
    stamp.write_text(digest)


def setup() -> None:
    ensure_venv()
    ensure_editable_install()
    VAR.mkdir(mode=0o700, exist_ok=True)
    manage("migrate", "--noinput", "-v", "0")
    collect_static()


# Each check: what it runs (in .venv, configured in pyproject.toml) and how to fix what it finds.
LINT_CHECKS = [
    (
        "ruff check",
        [str(VENV / "bin" / "ruff"), "check", "."],
        "fix what it lists (.venv/bin/ruff check --fix . fixes the ones marked [*])",
    ),
    (
        "ruff format --check",
        [str(VENV / "bin" / "ruff"), "format", "--check", "--output-format", "concise", "."],
        "run .venv/bin/ruff format . (.venv/bin/ruff format --diff . shows what it would change)",
    ),
    (
        "mypy",
        [str(PY), "-m", "mypy"],
        "fix the type errors it lists (.venv/bin/mypy runs it alone; files and options in pyproject.toml)",
    ),
]


def lint() -> int:
    """ruff check, ruff format --check and mypy, in that order; the first that fails stops the run."""
    for name, cmd, fix in LINT_CHECKS:
        started = time.monotonic()
        code = subprocess.call(cmd, cwd=ROOT)
        elapsed = time.monotonic() - started
        if code != 0:
            print(f"[dev] ERROR: {name} failed (exit code {code}, {elapsed:.1f} s): {fix}", file=sys.stderr, flush=True)
            return code
        say(f"{name}: clean ({elapsed:.1f} s)")
    return 0


def run_lint() -> int:
    ensure_venv()
    ensure_editable_install()
    return lint()


def postgres_url_for_tests() -> str | None:
    """The PostgreSQL to run the concurrency tests on a second time, if one answers."""
    url = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), timeout=0.5).close()
    except OSError:
        return None
    return url


def run_tests(extra: list[str]) -> int:
    ensure_venv()
    ensure_editable_install()
    code = lint()  # before anything slow: a lint or type error stops the run at once
    if code != 0:
        return code
    ensure_redis_for_tests()
    ensure_netcat_for_tests()
    ensure_chromium_for_tests()
    VAR.mkdir(mode=0o700, exist_ok=True)
    collect_static()  # the admin pages the tests render link to the collected, hashed names
    say("running the test suite (SQLite)")
    code = subprocess.call([str(PY), "-m", "pytest", *extra], cwd=ROOT)
    if code == 5:  # pytest: no tests collected
        die("pytest collected no tests")
    if code != 0 or extra:
        return code
    pg_url = postgres_url_for_tests()
    if pg_url is None:
        say("no PostgreSQL answers (set TEST_POSTGRES_URL): the PostgreSQL concurrency pass is skipped")
        return code
    say("running the concurrency tests again on PostgreSQL")
    env = dict(os.environ, DATABASE_URL=pg_url)
    code = subprocess.call([str(PY), "-m", "pytest", "-m", "postgres"], cwd=ROOT, env=env)
    if code == 5:
        say("no PostgreSQL tests were collected")
        return 0
    return code


def run_system() -> int:
    ensure_venv()
    ensure_editable_install()
    VAR.mkdir(mode=0o700, exist_ok=True)
    collect_static()
    runner = ROOT / "scripts" / "run_system.py"
    if not runner.exists():
        die("scripts/run_system.py is missing")
    # exec, not subprocess: run_system.py migrates, then execs supervisord in
    # this pid, so Ctrl-C reaches supervisord alone and it stops its programs
    # gracefully (subprocess.call would SIGKILL it 0.25 s after a Ctrl-C).
    os.chdir(ROOT)
    os.execv(str(PY), [str(PY), str(runner)])
    return 0  # unreachable


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    command, extra = argv[0], argv[1:]
    if command == "setup":
        setup()
        return 0
    if command == "test":
        return run_tests(extra)
    if command == "lint":
        return run_lint()
    if command == "run":
        return run_system()
    die(f"unknown command {command!r}; use run, test, lint or setup")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
