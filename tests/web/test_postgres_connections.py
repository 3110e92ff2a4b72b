"""PostgreSQL is never exhausted by one web process: a real Daphne on the test's PostgreSQL database.

Under Daphne each concurrent Django request ran on a thread of its own with a
persistent connection: 150 concurrent usage reports gave 51 HTTP 500 "too many
clients", and the connections stayed open long after. Now at most
WEB["DJANGO_CONCURRENCY"] Django requests run at once and each closes its
connection when it ends.

Run with ``DATABASE_URL=postgres://... pytest -m postgres``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.authtoken.models import Token

from llmrouter import services
from tests.llmrouter.conftest import load_seed
from tests.support.system import wait_until
from tests.web.daphne_proc import Daphne

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CONCURRENT = 500


def backends(dsn: str, dbname: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [dbname]
        ).fetchone()
    assert row is not None
    return int(row[0])


class Sampler(threading.Thread):
    """The most backends on ``dbname`` seen while running."""

    def __init__(self, dsn: str, dbname: str) -> None:
        super().__init__(daemon=True)
        self.dsn, self.dbname = dsn, dbname
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    [self.dbname],
                ).fetchone()
                assert row is not None
                self.peak = max(self.peak, int(row[0]))
                time.sleep(0.02)


def test_500_concurrent_usage_reports_get_no_500_and_connections_return_to_the_baseline(settings):
    load_seed()
    user = get_user_model().objects.create_user("pg-burst")
    token = Token.objects.create(user=user).key
    decisions = [
        r.decision_id
        for r in services.route_requests(
            [
                {"token_count": 1000, "task_type": "coding", "priority": "medium", "max_latency": 0.0, "interface": ""}
                for _ in range(CONCURRENT)
            ]
        )
    ]
    db = connection.settings_dict
    dbname = db["NAME"]
    dsn = f"host={db['HOST'] or '127.0.0.1'} port={db['PORT'] or 5432} user={db['USER']} dbname={dbname}"
    if db.get("PASSWORD"):
        dsn += f" password={db['PASSWORD']}"
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}"
    root = Path(tempfile.mkdtemp(prefix="orch-pg-", dir="/tmp"))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ORCHESTRATOR_SOCKET_DIR": str(root / "s"),
        "DB_CONN_MAX_AGE": "60",
        "API_RATE_ROUTE_LLM_USER": "1000000/min",
    }
    env.pop("ORCHESTRATOR_ASGI", None)
    connection.close()  # the test's own connection is not one of Daphne's
    with Daphne(env, root / "daphne.log").start() as daphne:
        headers = {"Authorization": f"Token {token}"}
        assert httpx.get(daphne.url + "/api/providers/", headers=headers, timeout=30).status_code == 200
        baseline = backends(dsn, dbname)
        sampler = Sampler(dsn, dbname)
        sampler.start()

        async def burst() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=daphne.url, limits=limits, timeout=180) as client:
                return await asyncio.gather(
                    *(
                        client.post(
                            f"/api/route-llm/{d}/usage",
                            headers=headers,
                            json={"prompt_tokens": 600, "completion_tokens": 300},
                        )
                        for d in decisions
                    )
                )

        try:
            responses = asyncio.run(burst())
        finally:
            sampler.stop.set()
            sampler.join(10)
        statuses: dict[int, int] = {}
        for r in responses:
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        print(
            f"\n{CONCURRENT} concurrent usage reports: statuses {statuses}, backends baseline {baseline}, "
            f"peak {sampler.peak}"
        )
        assert statuses == {200: CONCURRENT}, (
            statuses,
            next((r.text[:300] for r in responses if r.status_code != 200), ""),
            daphne.log_tail(),
        )
        concurrency = settings.WEB["DJANGO_CONCURRENCY"]
        # Django's bounded requests, plus the fast paths' and the token cache's worker threads.
        assert sampler.peak <= baseline + concurrency + 4, (sampler.peak, baseline)
        wait_until(
            lambda: backends(dsn, dbname) <= baseline,
            30,
            "the connections to return to the baseline",
            on_fail=lambda: f"{backends(dsn, dbname)} backends, baseline {baseline}",
        )
        # /health and the API still answer: nothing was left holding the server's connections.
        assert httpx.get(daphne.url + "/health", timeout=30).status_code == 200
        settled: Any = httpx.post(
            daphne.url + f"/api/route-llm/{decisions[0]}/usage",
            headers=headers,
            timeout=30,
            json={"prompt_tokens": 600, "completion_tokens": 300},
        )
        assert settled.status_code == 200 and settled.json()["status"] == "success"
