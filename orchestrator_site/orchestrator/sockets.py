"""The socket directory and the socket files in it: paths, permissions, ownership.

Everything that decides whether we may create, reuse or delete a file in the
socket directory lives here, so the security rules are in one place:

* the directory is created 0700 and refused when another user owns it or
  group/others may write it (they could swap our socket for theirs);
* socket files are chmod 0600 right after ``bind`` (the 0700 directory covers
  the short window in between);
* a leftover socket file nobody answers on is removed; one a live process
  answers on is never touched;
* one orchestrator per directory, enforced by an flock'ed lock file, so two
  orchestrators started at the same instant cannot both decide "stale".
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import stat
from pathlib import Path

from orchestrator_common.paths import MAX_SOCKET_PATH

logger = logging.getLogger(__name__)

LOCK_FILE_NAME = "orchestrator.lock"


class SocketDirError(Exception):
    """The socket directory (or a file in it) is unsafe or unusable."""


class SocketInUse(Exception):
    """A live process answers on a socket path we were asked to take."""


def prepare_socket_dir(path: Path) -> Path:
    """Create the directory 0700 (or check an existing one) and return its resolved path."""
    path = Path(path)
    if not path.exists():
        path.mkdir(mode=0o700, parents=True)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise SocketDirError(f"Socket directory {path} is a symbolic link; use a real directory")
    if not stat.S_ISDIR(st.st_mode):
        raise SocketDirError(f"Socket directory {path} exists and is not a directory")
    if st.st_uid != os.getuid():
        raise SocketDirError(
            f"Socket directory {path} is owned by uid {st.st_uid}, not by this user (uid {os.getuid()}); "
            "refusing to put sockets where another user controls them"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise SocketDirError(
            f"Socket directory {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"run 'chmod 700 {path}' or choose another ORCHESTRATOR_SOCKET_DIR"
        )
    if stat.S_IMODE(st.st_mode) != 0o700:
        # Ours and not writable by others, but others may enter it: tighten.
        os.chmod(path, 0o700)
    return path


def probe_socket(path: Path, timeout: float = 1.0) -> bool:
    """True when something accepts connections on ``path``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        # A full backlog of a live but busy server: treat as live, never steal it.
        return True
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise
    finally:
        sock.close()
    return True


def clear_stale_socket(path: Path) -> None:
    """Remove a socket file nobody answers on; refuse a live one or a non-socket."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketDirError(f"{path} exists and is not a socket; refusing to replace it")
    if probe_socket(path):
        raise SocketInUse(f"Another process (a running orchestrator?) answers on {path}; not taking it over")
    logger.info("Removing stale socket %s (nobody answers on it)", path)
    path.unlink(missing_ok=True)


FileIdentity = tuple[int, int, int]  # (device, inode, ctime_ns): inode numbers alone get reused


def _identity(st: os.stat_result) -> FileIdentity:
    return (st.st_dev, st.st_ino, st.st_ctime_ns)


def bind_unix_socket(path: Path, backlog: int = 1024) -> tuple[socket.socket, FileIdentity]:
    """A listening, non-blocking socket at ``path`` with mode 0600, and the file's identity."""
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise SocketDirError(
            f"Socket path {path} is longer than {MAX_SOCKET_PATH} bytes (AF_UNIX limit); "
            "choose a shorter ORCHESTRATOR_SOCKET_DIR"
        )
    clear_stale_socket(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(path))
        os.chmod(path, 0o600)
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock, _identity(os.lstat(path))


def remove_socket_file(path: Path, identity: FileIdentity | None) -> None:
    """Unlink ``path`` only if it is still the file we created (a successor's socket is left alone)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if identity is not None and _identity(st) != identity:
        logger.warning("Not removing %s: it was replaced by another process", path)
        return
    path.unlink(missing_ok=True)


class DirectoryLock:
    """An exclusive flock on ``<dir>/orchestrator.lock``: one orchestrator per socket directory."""

    def __init__(self, socket_dir: Path):
        self.path = Path(socket_dir) / LOCK_FILE_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise SocketInUse(
                f"Another orchestrator (pid {holder}) is already serving {self.path.parent}; "
                "stop it first or choose another ORCHESTRATOR_SOCKET_DIR"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            # The file stays (removing it would race with a newcomer's open); the lock goes with the fd.
            os.close(self._fd)
            self._fd = None
