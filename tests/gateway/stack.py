"""A real Daphne serving the project with fake providers behind it, for the gateway's end-to-end tests.

The providers are configured through the REST API (as an operator would), the results read back through
it too (route logs with their attempts, the ledger), so the tests run unchanged on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import httpx

from tests.support.fake_provider import FakeProvider
from tests.support.system import System
from tests.web.daphne_proc import Daphne

TIMEOUT = 30


class GatewayStack:
    """Daphne + three fakes (two OpenAI-format, one Anthropic) + a staff and a member token."""

    def __init__(self, *, env: dict[str, str] | None = None, database_url: str | None = None) -> None:
        self._stack = ExitStack()
        self.fakes = {
            name: self._stack.enter_context(FakeProvider(api_format=fmt))
            for name, fmt in (("a", "openai"), ("b", "openai"), ("c", "anthropic"))
        }
        self.system = System()  # only its environment and migrated database: no process is started
        self.system.env.update(
            {
                "API_RATE_ROUTE_LLM_USER": "1000000/min",
                "LLMROUTER_BREAKER_FAILURES": "2",
                "LLMROUTER_BREAKER_COOLDOWN_S": "5",
                # Generous for a loaded machine, short enough for the stall test to fail over quickly.
                "GATEWAY_FIRST_BYTE_TIMEOUT_S": "4",
                "GATEWAY_READ_TIMEOUT_S": "10",
                "GATEWAY_TTFB_PUBLISH_S": "0",
                "LOG_LEVEL": "WARNING",
                **{f"FAKE_KEY_{name.upper()}": fake.api_key for name, fake in self.fakes.items()},
                **(env or {}),
            }
        )
        if database_url is not None:  # PostgreSQL: an empty database of the caller's, migrated here
            self.system.env["DATABASE_URL"] = database_url
            proc = self.system.manage("migrate", "--noinput", "-v", "0", timeout=600)
            assert proc.returncode == 0, proc.stderr
        self.staff = self._token("gw-staff", "--staff")
        self.member = self._token("gw-member")
        self.daphne = Daphne(self.system.env, self.system.root / "daphne.log").start()
        self.url = self.daphne.url

    def _token(self, name: str, *flags: str) -> str:
        proc = self.system.manage("create_api_token", name, "--create", *flags)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    def restart(self) -> Path:
        """Stop Daphne (SIGTERM, so its shutdown steps run; nothing if it is gone already) and start another on
        the same database and fakes; returns the new one's log."""
        self.daphne.stop()
        log = self.system.root / "daphne-2.log"
        self.daphne = Daphne(self.system.env, log).start()
        self.url = self.daphne.url
        return log

    def close(self) -> None:
        self.daphne.stop()
        self._stack.close()

    # --- the REST API, as staff ------------------------------------------------------------------
    def stream_chat(self, body: dict[str, Any]) -> AbstractContextManager[httpx.Response]:
        """POST /v1/chat/completions as the member, the answer read as it comes: ``with gw.stream_chat(...) as r``."""
        return httpx.stream(
            "POST",
            self.url + "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {self.member}"},
            timeout=TIMEOUT,
        )

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Token {self.staff}"}
        return httpx.request(method, self.url + path, headers=headers, timeout=TIMEOUT, **kwargs)

    def providers(self, *specs: dict[str, Any], budget: str = "100.00") -> None:
        """Only these providers enabled (created or updated by key; fields as the REST API takes them)."""
        for p in self._all("/api/providers/", {}):
            assert self.api("PATCH", f"/api/providers/{p['key']}/", json={"enabled": False}).status_code == 200
        for order, spec in enumerate(specs):
            fake = self.fakes[spec.pop("fake")] if "fake" in spec else None
            body = {
                "name": spec["key"],
                "cost_per_1m": "10.00",
                "context_window": 100_000,
                "latency_ms": 500,
                "quality": 0.9 - order * 0.1,
                "capabilities": ["coding"],
                "enabled": True,
                "display_order": order,
                "health_state": "healthy",
                "input_cost_per_1m": None,
                "output_cost_per_1m": None,
                "cached_input_cost_per_1m": None,
                "upstream_model": "",
                "use_observed_latency": False,
                **spec,
            }
            if fake is not None:
                name = next(n for n, f in self.fakes.items() if f is fake)
                body.setdefault("api_base", fake.base_url)
                body.setdefault("api_format", "anthropic" if name == "c" else "openai")
                body.setdefault("api_key_env", f"FAKE_KEY_{name.upper()}")
            r = self.api("PATCH", f"/api/providers/{spec['key']}/", json=body)
            if r.status_code == 404:
                r = self.api("POST", "/api/providers/", json=body)
            assert r.status_code in (200, 201), r.text
            assert self.api("POST", f"/api/providers/{spec['key']}/reset-breaker/").status_code == 200
        [b] = self.api("GET", "/api/budgets/").json()["results"]
        assert self.api("PATCH", f"/api/budgets/{b['id']}/", json={"amount": budget}).status_code == 200

    def _all(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        rows, page = [], self.api("GET", path, params=params).json()
        while True:
            rows += page["results"]
            if not page.get("next"):
                return rows
            page = httpx.get(page["next"], headers={"Authorization": f"Token {self.staff}"}, timeout=TIMEOUT).json()

    def route_logs(self, **params: str) -> list[dict[str, Any]]:
        return self._all("/api/route-logs/", params)

    def ledger(self, **params: str) -> list[dict[str, Any]]:
        return self._all("/api/ledger/", params)

    def settled(self, decision_id: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The decision's route log once its attempt is recorded (the settlement follows the answer)."""
        deadline = time.monotonic() + timeout
        while True:
            log = self.api("GET", f"/api/route-logs/{decision_id}/").json()
            if log.get("attempt_record") or time.monotonic() > deadline:
                return log
            time.sleep(0.05)

    def provider(self, key: str) -> dict[str, Any]:
        return self.api("GET", f"/api/providers/{key}/").json()
