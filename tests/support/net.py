"""Small network helpers of the tests and benchmarks: a free TCP port, one line over a Unix socket."""

from __future__ import annotations

import socket
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def exchange_line(path: Path | str, line: bytes, timeout: float) -> bytes:
    """What ``echo line | nc -U path`` prints: ``line`` (no newline) sent on a new connection, read to a newline.

    Shorter (a partial line, or b"") when the peer closes first: the caller judges that.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(line + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf
