"""Where the project keeps its runtime files (database, logs, sockets).

Kept free of Django settings so that the bootstrap script, supervisord's
configuration and the settings module agree on one answer.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"

# AF_UNIX paths are limited to 108 bytes on Linux; leave room for the longest
# socket name we create ("orchestrator-semantic.sock" plus some margin).
_MAX_DIR_LEN = 70


def default_socket_dir() -> Path:
    """The socket directory when ORCHESTRATOR_SOCKET_DIR is not set.

    ``var/run`` under the project when its path is short enough for AF_UNIX,
    otherwise a per-user directory under /tmp.
    """
    candidate = VAR_DIR / "run"
    if len(str(candidate)) <= _MAX_DIR_LEN:
        return candidate
    return Path("/tmp") / f"orchestrator-{os.getuid()}"


def socket_dir() -> Path:
    raw = os.environ.get("ORCHESTRATOR_SOCKET_DIR")
    return Path(raw).expanduser() if raw else default_socket_dir()
