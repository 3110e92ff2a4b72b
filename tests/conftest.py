"""Shared fixtures. Real services only: the real database, Redis, processes."""

from __future__ import annotations

import os

import pytest

# The end-to-end harness (System, system_factory) for every engineer's e2e tests.
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(scope="session", autouse=True)
def _static_files_collected() -> None:
    """Admin pages link to collected, hashed names (ManifestStaticFilesStorage): without a
    manifest every page would fail. dev.py test collects; this covers a bare pytest run."""
    from pathlib import Path

    from django.conf import settings

    if (
        "django.contrib.staticfiles" in settings.INSTALLED_APPS
        and not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists()
    ):
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)


def pytest_unconfigure(config: pytest.Config) -> None:
    remove_test_database_leftovers()


def remove_test_database_leftovers() -> None:
    """SQLite's -wal/-shm files of test databases that are gone.

    pytest-django's teardown deletes the test database file but not the WAL and
    shared-memory files next to it (settings.py names one test database per pid
    under var/). Runs still going in this checkout keep theirs: only files of
    this run, or of a pid that no longer exists (a killed run), are removed.
    """
    import re
    from pathlib import Path

    from django.conf import settings

    from orchestrator_site.filemodes import sqlite_files

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    mine = Path(settings.DATABASES["default"]["TEST"]["NAME"])
    for path in mine.parent.glob("test_db_*.sqlite3*"):
        match = re.fullmatch(r"test_db_(\d+)\.sqlite3(-wal|-shm|-journal)?", path.name)
        if match is None:
            continue
        pid, database = int(match[1]), path.with_name(f"test_db_{match[1]}.sqlite3")
        if pid == os.getpid() and database.exists():
            continue  # this run's database kept (--reuse-db): its WAL belongs to it
        if pid != os.getpid() and _pid_alive(pid):
            continue  # another run in this checkout is still using it
        for leftover in sqlite_files(database):
            leftover.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pytest_collection_modifyitems(config, items):
    # Tests marked "postgres" run only when the database really is PostgreSQL.
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    skip = pytest.mark.skip(reason="needs DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)
