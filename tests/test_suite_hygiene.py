"""The test suite cleans up after itself: no SQLite -wal/-shm files of its test database stay in var/."""

from __future__ import annotations

import subprocess
import sys

from tests.support.system import PROJECT_ROOT, _base_env


def test_a_run_leaves_no_files_of_its_sqlite_test_database_behind() -> None:
    # test_fast_path's ASGI calls leave connections open in worker threads at exit, which is
    # what used to strand test_db_<pid>.sqlite3-wal and -shm in var/.
    var = PROJECT_ROOT / "var"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/llmrouter/test_fast_path.py"],
        cwd=PROJECT_ROOT,
        env=_base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    assert " passed" in output, output
    left = sorted(p.name for p in var.glob(f"test_db_{proc.pid}.sqlite3*"))
    assert left == [], left
