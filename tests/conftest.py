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

    if "django.contrib.staticfiles" in settings.INSTALLED_APPS and not (
            Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)


def pytest_collection_modifyitems(config, items):
    # Tests marked "postgres" run only when the database really is PostgreSQL.
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    skip = pytest.mark.skip(reason="needs DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)
