"""Nothing the project writes is readable by other users: var/, the database, sockets, tokens, logs."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from orchestrator_common.paths import PROJECT_ROOT, VAR_DIR
from orchestrator_site import filemodes


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_loading_the_settings_tightens_the_umask_and_var():
    current = os.umask(0)
    os.umask(current)
    assert current & 0o077 == 0o077
    assert mode(VAR_DIR) == 0o700
    secret = VAR_DIR / "secret_key"
    if secret.exists():
        assert mode(secret) == 0o600


def test_make_private_tightens_loose_files_and_dirs_but_never_loosens(tmp_path):
    loose_dir = tmp_path / "d"
    loose_dir.mkdir()
    os.chmod(loose_dir, 0o755)
    loose = tmp_path / "f"
    loose.write_text("x")
    os.chmod(loose, 0o644)
    tight = tmp_path / "g"
    tight.write_text("x")
    os.chmod(tight, 0o400)
    for path in (loose_dir, loose, tight, tmp_path / "missing"):
        filemodes.make_private(path)
    assert (mode(loose_dir), mode(loose), mode(tight)) == (0o700, 0o600, 0o400)


@pytest.mark.e2e
def test_a_fresh_database_and_its_wal_files_are_0600_even_under_a_loose_umask():
    root = Path(tempfile.mkdtemp(prefix="orch-modes-", dir="/tmp"))
    try:
        db = root / "db.sqlite3"
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{db}", DJANGO_SETTINGS_MODULE="orchestrator_site.settings")
        # A write in WAL mode (the settings' init_command) creates -wal and -shm; they are removed at the last
        # close, so the modes are read while the connection is still open.
        script = (
            "import os, glob, json, stat; os.umask(0o022); import django; django.setup(); "
            "from django.db import connection; c = connection.cursor(); "
            "c.execute('CREATE TABLE t (x integer)'); c.execute('INSERT INTO t VALUES (1)'); "
            f"print(json.dumps({{p: stat.S_IMODE(os.stat(p).st_mode) for p in glob.glob('{db}*')}}))"
        )
        out = subprocess.run(
            [sys.executable, "-c", script],
            cwd=PROJECT_ROOT,
            env=env,
            check=True,
            timeout=300,
            capture_output=True,
            text=True,
        ).stdout
        modes = json.loads(out.strip().splitlines()[-1])
        assert str(db) in modes and str(db) + "-wal" in modes, modes
        assert all(m == 0o600 for m in modes.values()), {p: oct(m) for p, m in modes.items()}
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.e2e
def test_the_orchestrator_keeps_its_directory_sockets_and_lock_private(fuzz_system):
    assert mode(fuzz_system.socket_dir) == 0o700
    entries = list(fuzz_system.socket_dir.iterdir())
    assert any(p.name == "orchestrator.sock" for p in entries)
    for path in entries:
        assert mode(path) & 0o077 == 0, (path, oct(mode(path)))


def test_supervisor_runs_every_program_with_a_private_umask():
    conf = (PROJECT_ROOT / "supervisord.conf").read_text()
    assert "umask=077" in conf.replace(" ", "")
