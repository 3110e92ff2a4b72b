"""Shared fixtures. Real services only: the real database, Redis, processes."""
from __future__ import annotations

import os

import pytest

# The end-to-end harness (System, system_factory) for every engineer's e2e tests.
pytest_plugins = ["tests.support.fixtures"]


def pytest_collection_modifyitems(config, items):
    # Tests marked "postgres" run only when the database really is PostgreSQL.
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    skip = pytest.mark.skip(reason="needs DATABASE_URL=postgres://...")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip)
