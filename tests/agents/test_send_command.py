"""``manage.py send`` exit codes, from a real process: 2 for usage errors, 3 when the
orchestrator cannot be reached, 0/1 by the answer's status (tests/e2e/test_socket_system.py)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.system import MANAGE, PROJECT_ROOT, _base_env


def send(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MANAGE), "send", *args],
        cwd=PROJECT_ROOT,
        env=_base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_unreachable_orchestrator_exits_3_with_a_message() -> None:
    nowhere = Path(tempfile.mkdtemp(prefix="orch-none-", dir="/tmp")) / "orchestrator.sock"
    done = send("naming", "describe", "--socket", str(nowhere))
    assert done.returncode == 3, (done.returncode, done.stderr)
    assert "Cannot reach the orchestrator" in done.stderr and str(nowhere) in done.stderr
    assert done.stdout == ""


def test_usage_errors_exit_2() -> None:
    assert send().returncode == 2  # agent and action missing: argparse
    assert send("naming", "describe", "--no-such-option").returncode == 2
    bad_pair = send("naming", "describe", "justaword")
    assert bad_pair.returncode == 2 and "Expected key=value" in bad_pair.stderr
