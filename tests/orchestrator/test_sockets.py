"""The socket directory's security rules and socket file handling."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

import pytest

from orchestrator_site.orchestrator.sockets import (
    DirectoryLock,
    SocketDirError,
    SocketInUse,
    bind_unix_socket,
    clear_stale_socket,
    prepare_socket_dir,
    remove_socket_file,
)


@pytest.fixture
def tmp_short():
    root = Path(tempfile.mkdtemp(prefix="orch-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_missing_socket_dir_is_created_owner_only(tmp_short):
    path = prepare_socket_dir(tmp_short / "a" / "s")
    assert mode(path) == 0o700


def test_socket_dir_writable_by_group_or_others_is_refused(tmp_short):
    for bad in (0o770, 0o707, 0o777):
        path = tmp_short / f"d{bad:o}"
        path.mkdir()
        path.chmod(bad)
        with pytest.raises(SocketDirError, match="writable by group or others"):
            prepare_socket_dir(path)


def test_socket_dir_readable_by_others_is_tightened_to_0700(tmp_short):
    path = tmp_short / "open"
    path.mkdir()
    path.chmod(0o755)
    prepare_socket_dir(path)
    assert mode(path) == 0o700


def test_socket_dir_that_is_a_symlink_is_refused(tmp_short):
    real = tmp_short / "real"
    real.mkdir(mode=0o700)
    link = tmp_short / "link"
    link.symlink_to(real)
    with pytest.raises(SocketDirError, match="symbolic link"):
        prepare_socket_dir(link)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to create a directory owned by someone else")
def test_socket_dir_owned_by_another_user_is_refused(tmp_short):
    path = tmp_short / "theirs"
    path.mkdir(mode=0o700)
    os.chown(path, 65534, 65534)
    with pytest.raises(SocketDirError, match="owned by uid 65534"):
        prepare_socket_dir(path)


def test_bound_socket_file_is_0600(tmp_short):
    sock, _ = bind_unix_socket(tmp_short / "x.sock")
    try:
        assert mode(tmp_short / "x.sock") == 0o600
        assert stat.S_ISSOCK(os.lstat(tmp_short / "x.sock").st_mode)
    finally:
        sock.close()


def test_stale_socket_file_is_removed(tmp_short):
    path = tmp_short / "stale.sock"
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens
    clear_stale_socket(path)
    assert not path.exists()


def test_live_socket_is_never_taken_over(tmp_short):
    path = tmp_short / "live.sock"
    live = socket.socket(socket.AF_UNIX)
    live.bind(str(path))
    live.listen(1)
    try:
        with pytest.raises(SocketInUse):
            clear_stale_socket(path)
        assert path.exists()
    finally:
        live.close()


def test_regular_file_in_place_of_a_socket_is_refused(tmp_short):
    path = tmp_short / "file.sock"
    path.write_text("not a socket")
    with pytest.raises(SocketDirError, match="not a socket"):
        clear_stale_socket(path)
    assert path.read_text() == "not a socket"


def test_socket_file_replaced_by_another_process_is_not_removed(tmp_short):
    path = tmp_short / "mine.sock"
    sock, identity = bind_unix_socket(path)
    sock.close()
    path.unlink()
    other, _ = bind_unix_socket(path)  # a successor took the name
    try:
        remove_socket_file(path, identity)
        assert path.exists()
    finally:
        other.close()


def test_second_lock_on_the_same_directory_is_refused_naming_the_holder(tmp_short):
    first = DirectoryLock(tmp_short)
    first.acquire()
    try:
        with pytest.raises(SocketInUse, match=f"pid {os.getpid()}"):
            DirectoryLock(tmp_short).acquire()
    finally:
        first.release()
    again = DirectoryLock(tmp_short)
    again.acquire()  # free once released
    again.release()


def test_socket_path_over_the_af_unix_limit_is_refused_clearly(tmp_short):
    with pytest.raises(SocketDirError, match="AF_UNIX"):
        bind_unix_socket(tmp_short / ("x" * 120 + ".sock"))
