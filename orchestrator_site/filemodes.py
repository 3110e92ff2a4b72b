"""Private file modes for everything the project writes: nothing readable by other users.

Every process (manage.py commands, daphne, pytest) imports the settings, which
call ``secure_runtime_files`` once: the umask is tightened to 077 so new files
(the SQLite database and its -wal/-shm files, token files, logs written by
our processes) are 0600 and new directories 0700, and what already exists
from an older checkout or a looser umask is tightened if it is ours.
supervisord sets ``umask=077`` for itself and its children as well.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

PRIVATE_UMASK = 0o077


def tighten_umask() -> int:
    """Add 077 to the process umask (never loosens it); returns the new umask."""
    old = os.umask(PRIVATE_UMASK)
    new = old | PRIVATE_UMASK
    os.umask(new)
    return new


def make_private(path: Path, *, dir_mode: int = 0o700, file_mode: int = 0o600) -> None:
    """chmod ``path`` to the private mode if it exists, is ours and is looser (symlinks are left alone)."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if st.st_uid != os.getuid() or stat.S_ISLNK(st.st_mode):
        return
    wanted = dir_mode if stat.S_ISDIR(st.st_mode) else file_mode
    if stat.S_IMODE(st.st_mode) & ~wanted & 0o777:
        try:
            os.chmod(path, stat.S_IMODE(st.st_mode) & wanted)
        except OSError:
            pass  # a read-only mount: nothing we can do, and not worth failing the start over


def sqlite_files(database_name: str | os.PathLike[str]) -> list[Path]:
    db = Path(database_name)
    return [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm"), db.with_name(db.name + "-journal")]


def secure_runtime_files(var_dir: Path, extra: Iterable[Path] = ()) -> None:
    """Tighten the umask, make ``var_dir`` 0700 and the given files (and var's direct files) 0600."""
    tighten_umask()
    var_dir.mkdir(mode=0o700, exist_ok=True)
    make_private(var_dir)
    for path in extra:
        make_private(path)
