"""Where the project keeps its runtime files (database, logs, sockets) and what each socket is called.

Kept free of Django settings so that the bootstrap script, supervisord's
configuration, the settings module and the agents agree on one answer.
Socket file names are built only by ``socket_path``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

PROJECT_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = PROJECT_ROOT / "var"

# Linux limit for sun_path, without the terminating NUL.
MAX_SOCKET_PATH = 107
# AF_UNIX paths are limited to 108 bytes on Linux; leave room for the longest
# socket name we create ("orchestrator-semantic.sock" plus some margin).
_MAX_DIR_LEN = 70

CLIENT_SOCKET_NAME = "orchestrator.sock"
SUPERVISOR_SOCKET_NAME = "supervisor.sock"

SocketKind = Literal["client", "agent", "supervisor"]


def socket_path(kind: SocketKind, directory: Path | str, agent_type: str = "") -> Path:
    """The socket file of ``kind`` in ``directory``.

    "client": orchestrator.sock (clients, the web process); "agent": the
    orchestrator-<type>.sock agents of ``agent_type`` dial; "supervisor":
    supervisord's control socket.
    """
    if kind == "agent":
        if not agent_type:
            raise ValueError("an agent socket needs its agent type")
        return Path(directory) / f"orchestrator-{agent_type}.sock"
    if kind == "client":
        return Path(directory) / CLIENT_SOCKET_NAME
    if kind == "supervisor":
        return Path(directory) / SUPERVISOR_SOCKET_NAME
    raise ValueError(f"unknown socket kind {kind!r}")


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
    """ORCHESTRATOR_SOCKET_DIR, else the default: settings.py's answer, and a plain script's without Django."""
    raw = os.environ.get("ORCHESTRATOR_SOCKET_DIR")
    return Path(raw).expanduser() if raw else default_socket_dir()
