"""Safe paths under the workspace root: pure logic, no Django.

Every file the struct agent writes, reads or deletes is reached by walking
down from an open descriptor of the workspace root, one validated component
at a time, with ``O_NOFOLLOW``. A symlink anywhere on the way is refused, not
resolved, so neither ``..``, nor an absolute path, nor a symlink planted inside
the root (pointing out of it) can make us touch anything outside the root.
Because every step is relative to a descriptor we already hold, a tree that
changes between a check and the write cannot redirect the write either (no
check-then-use race on path strings).

Writes are atomic: content goes to a temporary file in the same directory,
is fsynced, and then appears under its final name in one step (``os.link``
when the name must not exist yet, ``os.replace`` otherwise). A crash leaves a
stray ``.tmp-`` file at worst, never a half-written spec.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_COMPONENT = 100  # one path component (well under NAME_MAX = 255)
MAX_RELATIVE = 255  # a whole relative path given in a request
MAX_NAME = 100  # a structure's display name
_COMPONENT_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*$")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
TMP_PREFIX = ".tmp-"


class UnsafePath(ValueError):
    """A path or name that could leave the workspace root, or is otherwise not allowed."""

    def __init__(self, message: str, *, value: str | None = None):
        super().__init__(message)
        self.value = value


class PathExists(FileExistsError):
    """The target already exists; nothing was overwritten."""

    def __init__(self, path: str):
        super().__init__(errno.EEXIST, "already exists", path)
        self.path = path


# --- validation ------------------------------------------------------------------


def _shown(value: str) -> str:
    # Error messages echo the offending value, but never a huge or binary one.
    text = value.replace("\x00", "\\0")
    return text if len(text) <= 60 else text[:57] + "..."


def validate_name(name: object) -> str:
    """A structure's display name: printable text, no path separators, no NUL."""
    if not isinstance(name, str) or not name.strip():
        raise UnsafePath("name must be a non-empty string")
    if "\x00" in name:
        raise UnsafePath("name must not contain NUL bytes", value=_shown(name))
    if len(name) > MAX_NAME:
        raise UnsafePath(f"name is longer than {MAX_NAME} characters", value=_shown(name))
    if "/" in name or "\\" in name:
        raise UnsafePath("name must not contain path separators", value=_shown(name))
    if name.strip() in (".", ".."):
        raise UnsafePath("name must not be '.' or '..'", value=name)
    if not name.isprintable():
        raise UnsafePath("name must contain printable characters only", value=_shown(name))
    return name.strip()


def validate_component(part: object, *, what: str = "path component") -> str:
    """One directory or file name: letters, digits, '.', '_', '-'; no dot-leading names."""
    if not isinstance(part, str) or not part:
        raise UnsafePath(f"{what} must be a non-empty string")
    if "\x00" in part:
        raise UnsafePath(f"{what} must not contain NUL bytes", value=_shown(part))
    if len(part) > MAX_COMPONENT:
        raise UnsafePath(f"{what} is longer than {MAX_COMPONENT} characters", value=_shown(part))
    if part in (".", ".."):
        raise UnsafePath(f"{what} must not be '.' or '..'", value=part)
    if not _COMPONENT_RE.match(part):
        raise UnsafePath(
            f"{what} may contain only letters, digits, '.', '_' and '-' and must not start with a dot or a dash",
            value=_shown(part),
        )
    return part


def split_relative(path: object, *, what: str = "path") -> list[str]:
    """A relative path from a request -> its validated components ('' -> [])."""
    if path is None or path == "":
        return []
    if not isinstance(path, str):
        raise UnsafePath(f"{what} must be a string")
    if "\x00" in path:
        raise UnsafePath(f"{what} must not contain NUL bytes", value=_shown(path))
    if len(path) > MAX_RELATIVE:
        raise UnsafePath(f"{what} is longer than {MAX_RELATIVE} characters", value=_shown(path))
    if path.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", path):
        raise UnsafePath(f"{what} must be relative to the workspace root", value=_shown(path))
    if "\\" in path:
        raise UnsafePath(f"{what} must use '/' as separator", value=_shown(path))
    parts = path.split("/")
    if any(p == ".." for p in parts):
        raise UnsafePath(f"{what} must not contain '..'", value=_shown(path))
    return [validate_component(p, what=f"{what} component") for p in parts]


def is_inside(root: Path, candidate: Path) -> bool:
    """Whether ``candidate`` (after resolving symlinks) lies inside ``root``."""
    root_r = os.path.realpath(root)
    cand_r = os.path.realpath(candidate)
    return cand_r == root_r or cand_r.startswith(root_r.rstrip(os.sep) + os.sep)


# --- descriptors ------------------------------------------------------------------


def open_root(root: Path | str, *, create: bool = True) -> int:
    """An fd of the workspace root (created 0700 when missing). The caller closes it."""
    root = Path(root)
    if create:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_dir(base_fd: int, parts: list[str], *, create: bool = False, mode: int = 0o755) -> int:
    """Walk ``parts`` down from ``base_fd`` without following symlinks; return the last fd.

    Raises UnsafePath for a symlink or a non-directory on the way,
    FileNotFoundError for a missing component when ``create`` is false.
    """
    fd = os.dup(base_fd)
    try:
        for part in parts:
            validate_component(part)
            try:
                nxt = _open_child_dir(fd, part, create=create, mode=mode)
            finally:
                os.close(fd)
                fd = -1
            fd = nxt
        return fd
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


def _open_child_dir(fd: int, part: str, *, create: bool, mode: int) -> int:
    for _ in range(3):  # a concurrent mkdir/rmdir may race us; retry a little
        try:
            return os.open(part, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(part, mode, dir_fd=fd)
            except FileExistsError:
                pass
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafePath(
                    f"'{part}' is a symlink or not a directory; symlinks are not followed", value=part
                ) from None
            raise
    raise FileNotFoundError(errno.ENOENT, "directory keeps disappearing", part)


def make_dir_exclusive(parent_fd: int, name: str, *, mode: int = 0o755) -> int:
    """Create ``name`` under ``parent_fd`` (PathExists if anything is there) and open it."""
    validate_component(name)
    try:
        os.mkdir(name, mode, dir_fd=parent_fd)
    except FileExistsError:
        raise PathExists(name) from None
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


# --- files ----------------------------------------------------------------------------


def atomic_write(dir_fd: int, name: str, data: bytes, *, overwrite: bool = False, mode: int = 0o644) -> None:
    """Write ``data`` to ``name`` in ``dir_fd`` atomically.

    With ``overwrite=False`` the final step is ``os.link`` (fails if the name
    exists: PathExists, nothing replaced); otherwise ``os.replace``.
    """
    validate_component(name)
    tmp = f"{TMP_PREFIX}{secrets.token_hex(6)}-{name}"[: MAX_COMPONENT + 20]
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        else:
            try:
                os.link(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
            except FileExistsError:
                raise PathExists(name) from None
    finally:
        try:
            os.unlink(tmp, dir_fd=dir_fd)
        except FileNotFoundError:
            pass  # os.replace consumed it
    os.fsync(dir_fd)  # make the new directory entry durable too


def write_relative(base_fd: int, relpath: str, data: bytes, *, overwrite: bool = False) -> None:
    """Atomically write a file at ``relpath`` (creating parent dirs) below ``base_fd``."""
    *dirs, name = split_relative(relpath)
    fd = open_dir(base_fd, dirs, create=True)
    try:
        atomic_write(fd, name, data, overwrite=overwrite)
    finally:
        os.close(fd)


def read_relative(base_fd: int, relpath: str, *, max_bytes: int = 1024 * 1024) -> bytes:
    """Read a regular file below ``base_fd`` without following symlinks."""
    *dirs, name = split_relative(relpath)
    dfd = open_dir(base_fd, dirs)
    try:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dfd)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafePath(f"'{relpath}' is a symlink; symlinks are not followed", value=relpath) from None
            raise
    finally:
        os.close(dfd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafePath(f"'{relpath}' is not a regular file", value=relpath)
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(max_bytes + 1)  # one byte more tells the caller it was too big
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Entry:
    path: str  # relative, '/'-separated
    kind: str  # "file" | "dir" | "symlink" | "other"
    size: int


def list_tree(dir_fd: int, *, limit: int = 1000) -> tuple[list[Entry], bool]:
    """Every entry below ``dir_fd`` (symlinks listed, never followed); (entries, truncated)."""
    out: list[Entry] = []

    def walk(fd: int, prefix: str) -> bool:
        with os.scandir(fd) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            if len(out) >= limit:
                return True
            rel = f"{prefix}{entry.name}"
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                out.append(Entry(rel, "symlink", 0))
            elif stat.S_ISDIR(st.st_mode):
                out.append(Entry(rel, "dir", 0))
                try:
                    child = os.open(entry.name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue  # swapped for a symlink meanwhile: list it, do not enter
                try:
                    if walk(child, rel + "/"):
                        return True
                finally:
                    os.close(child)
            elif stat.S_ISREG(st.st_mode):
                out.append(Entry(rel, "file", st.st_size))
            else:
                out.append(Entry(rel, "other", 0))
        return False

    truncated = walk(dir_fd, "")
    return out, truncated


def unlink_relative(base_fd: int, relpath: str) -> bool:
    """Remove one file or symlink below ``base_fd`` (never what a symlink points to)."""
    *dirs, name = split_relative(relpath)
    try:
        dfd = open_dir(base_fd, dirs)
    except (FileNotFoundError, UnsafePath):
        return False
    try:
        os.unlink(name, dir_fd=dfd)
        return True
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        return False
    finally:
        os.close(dfd)


def remove_empty_dirs(dir_fd: int) -> list[str]:
    """Remove empty directories below ``dir_fd`` bottom-up; return what is left."""
    entries, _ = list_tree(dir_fd, limit=100_000)
    for entry in sorted((e for e in entries if e.kind == "dir"), key=lambda e: -e.path.count("/")):
        *dirs, name = entry.path.split("/")
        try:
            pfd = open_dir(dir_fd, dirs)
        except (FileNotFoundError, UnsafePath):
            continue
        try:
            os.rmdir(name, dir_fd=pfd)
        except OSError:
            pass  # not empty: foreign content stays
        finally:
            os.close(pfd)
    left, _ = list_tree(dir_fd, limit=1000)
    return [e.path for e in left]


def remove_tree(parent_fd: int, name: str) -> None:
    """Delete directory ``name`` under ``parent_fd`` and all it holds, without following symlinks.

    shutil.rmtree's descriptor-based implementation (``avoids_symlink_attacks``
    is true on Linux) unlinks symlinks instead of descending into them.
    """
    validate_component(name)
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(f"'{name}' is not a directory (a symlink?); refusing to remove", value=name)
    if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - Linux always has it
        raise UnsafePath("this platform cannot remove trees safely")
    shutil.rmtree(name, dir_fd=parent_fd)


def rmdir_if_empty(parent_fd: int, name: str) -> bool:
    try:
        os.rmdir(name, dir_fd=parent_fd)
        return True
    except OSError:
        return False
