"""A private PostgreSQL database for one benchmark run, created on a given server and dropped after.

url, drop = private_database("postgres://postgres@127.0.0.1:5432/postgres", "bench_router")
try: ... DATABASE_URL=url ...
finally: drop()
"""

from __future__ import annotations

import os
from collections.abc import Callable
from urllib.parse import urlparse, urlunparse


def private_database(server_url: str, prefix: str) -> tuple[str, Callable[[], None]]:
    """``<prefix>_<pid>`` created on the server of ``server_url`` (any database on it): its URL and a drop callable."""
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        from django.db import connections

        connections.close_all()  # this process's sessions; FORCE ends any other (Daphne children)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunparse(urlparse(server_url)._replace(path=f"/{name}")), drop
