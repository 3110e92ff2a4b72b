"""The monitor pass against a real local HTTP server."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.management import call_command

from llmrouter import services
from llmrouter.models import Budget, Provider
from llmrouter.monitor import run_monitor_pass


class _Health(BaseHTTPRequestHandler):
    status = 200  # class-level switch the test flips

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def health_server():
    handler = type("Handler", (_Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


def test_provider_turns_unhealthy_after_n_failures_and_healthy_after_one_success(seed_router, health_server, settings):
    settings.LLMROUTER = {**settings.LLMROUTER, "UNHEALTHY_AFTER_FAILURES": 2, "HEALTH_CHECK_TIMEOUT_S": 2.0}
    handler, url = health_server
    Provider.objects.filter(key="local-llama").update(health_url=url)
    handler.status = 503
    first = run_monitor_pass()
    assert first["events"] == [] and first["providers"]["local-llama"] == {"ok": False, "error": "HTTP 503"}
    assert Provider.objects.get(key="local-llama").health_state == "healthy"
    second = run_monitor_pass()
    [event] = second["events"]
    assert (event["event"], event["provider"], event["health"], event["previous"]) == (
        "provider_health_changed",
        "local-llama",
        "unhealthy",
        "healthy",
    )
    assert Provider.objects.get(key="local-llama").last_error == "HTTP 503"
    # Unhealthy providers are not routed to.
    assert services.route_request(token_count=5000, task_type="coding").provider_key == "gpt-4-turbo"
    handler.status = 200
    [event] = run_monitor_pass()["events"]
    assert (event["health"], event["previous"]) == ("healthy", "unhealthy")
    provider = Provider.objects.get(key="local-llama")
    assert (provider.consecutive_failures, provider.last_error) == (0, "")
    assert provider.last_check_at is not None


def test_unreachable_health_url_counts_as_a_failure(seed_router, settings):
    settings.LLMROUTER = {**settings.LLMROUTER, "UNHEALTHY_AFTER_FAILURES": 1, "HEALTH_CHECK_TIMEOUT_S": 0.5}
    Provider.objects.filter(key="gemini-pro").update(health_url="http://127.0.0.1:9/nothing-listens")
    [event] = run_monitor_pass()["events"]
    assert event["provider"] == "gemini-pro" and event["health"] == "unhealthy"
    assert Provider.objects.get(key="gemini-pro").last_error


def test_budget_warning_is_sent_once_per_window_past_the_threshold(seed_router):
    Budget.objects.update(amount="0.04", warning_threshold=0.8)
    day1 = datetime(2026, 5, 1, 10, tzinfo=UTC)
    assert run_monitor_pass(now=day1)["events"] == []
    services.route_request(token_count=5000, task_type="analysis", now=day1)  # $0.035 of $0.04 = 87.5%
    [event] = run_monitor_pass(now=day1)["events"]
    assert event["event"] == "budget_warning" and event["utilization_pct"] == 87.5
    assert event["threshold_pct"] == 80.0 and not event["exhausted"]
    assert run_monitor_pass(now=day1)["events"] == []  # already warned in this window
    day2 = datetime(2026, 5, 2, 10, tzinfo=UTC)
    services.route_request(token_count=5000, task_type="analysis", now=day2)
    assert [e["event"] for e in run_monitor_pass(now=day2)["events"]] == ["budget_warning"]


def test_monitor_command_runs_one_pass(seed_router, capsys):
    call_command("monitor_providers", "--once")
    out = capsys.readouterr().out
    assert '"events": []' in out and '"name": "Daily"' in out
