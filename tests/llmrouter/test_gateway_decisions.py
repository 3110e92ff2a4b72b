"""The one decision service with a GatewayQuery: exclusions, worst-case reservations, probes, refusals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from agents.protocol import ErrorCode
from llmrouter import gateway, services, windows
from llmrouter.models import LedgerEntry, Provider, RouteLog
from llmrouter.settlement import GatewaySettlement, Prices
from tests.llmrouter.conftest import load_seed

pytestmark = pytest.mark.django_db(transaction=True)


def route(q: gateway.GatewayQuery, **kwargs):
    [outcome] = services.route_requests(
        [
            gateway.route_kwargs(
                q, task_type=kwargs.get("task_type", "coding"), priority="high", max_latency=3000, interface="gateway"
            )
        ]
    )
    return outcome


def test_a_missing_key_variable_excludes_the_provider_for_the_gateway_only(gateway_seed, monkeypatch):
    Provider.objects.filter(key="local-llama").update(api_key_env="TEST_GW_UNSET")
    monkeypatch.delenv("TEST_GW_UNSET", raising=False)
    result = route(gateway.GatewayQuery(prompt_tokens=100, completion_tokens=4900))
    assert result.provider_key == "gpt-4-turbo"  # Local Llama would win the worked example
    excluded = {c["provider"]: c.get("excluded") for c in result.candidates}
    assert excluded["local-llama"] == "no_credentials"
    assert "TEST_GW_UNSET" in [c for c in result.candidates if c["provider"] == "local-llama"][0]["reason"]
    # The decision-only caller makes the call itself: it still gets the worked example.
    assert (
        services.route_request(token_count=5000, task_type="coding", priority="high", max_latency=3000).provider_key
        == "local-llama"
    )


def test_the_worst_case_is_reserved_at_the_input_and_output_prices(gateway_seed):
    Provider.objects.filter(key="local-llama").update(enabled=False)
    Provider.objects.filter(key="gpt-4-turbo").update(
        input_cost_per_1m=Decimal("2.00"), output_cost_per_1m=Decimal("8.00")
    )
    result = route(gateway.GatewayQuery(prompt_tokens=1000, completion_tokens=500))
    assert result.provider_key == "gpt-4-turbo"
    assert result.estimated_cost_nanos == 1000 * 2_000 + 500 * 8_000
    assert LedgerEntry.objects.get(route__decision_id=result.decision_id).amount_nanos == 6_000_000
    log = RouteLog.objects.get(decision_id=result.decision_id)
    assert log.input_cost_per_1m == Decimal("2.00") and log.request_id == result.decision_id


def test_refusals_before_routing_log_nothing(gateway_seed):
    with_pin = gateway.GatewayQuery(prompt_tokens=10, completion_tokens=10, pin="no-such-provider")
    assert route(with_pin).code == ErrorCode.NOT_FOUND
    too_big = gateway.GatewayQuery(prompt_tokens=10, completion_tokens=300_000)
    refusal = route(too_big)
    assert refusal.code == ErrorCode.VALIDATION_ERROR and refusal.details["code"] == "context_length_exceeded"
    assert RouteLog.objects.count() == 0 and LedgerEntry.objects.count() == 0


def test_an_open_breaker_cools_down_then_one_request_probes(gateway_seed):
    now = windows.utc_now()
    Provider.objects.filter(key="local-llama").update(
        breaker_state="open", breaker_failures=3, breaker_until=now + timedelta(seconds=30)
    )
    q = gateway.GatewayQuery(prompt_tokens=100, completion_tokens=4900)
    assert route(q).provider_key == "gpt-4-turbo"
    Provider.objects.filter(key="local-llama").update(breaker_until=now - timedelta(seconds=1))
    outcomes = services.route_requests(
        [gateway.route_kwargs(q, task_type="coding", priority="high", max_latency=3000, interface="gateway")] * 2
    )
    # In one batch: the first is the probe, the second sees the claim and goes elsewhere.
    assert [o.provider_key for o in outcomes] == ["local-llama", "gpt-4-turbo"]
    assert outcomes[0].target.probe and Provider.objects.get(key="local-llama").breaker_state == "half_open"
    # The decision-only caller ignores the gateway's breaker.
    assert (
        services.route_request(token_count=5000, task_type="coding", priority="high", max_latency=3000).provider_key
        == "local-llama"
    )


def fail_over_from(first):
    """The second attempt's decision, with the first attempt's failure settled in its transaction (as the gateway
    does on a 5xx)."""
    failed = GatewaySettlement(
        route_pk=first.route_pk,
        decision_id=first.decision_id,
        request_id=first.request_id,
        attempt=1,
        provider_pk=first.provider_pk,
        provider_key=first.provider_key,
        reserved_nanos=first.estimated_cost_nanos,
        reserved_at=first.created_at,
        prices=Prices(Decimal("10")),
        outcome="upstream_error",
        usage_source="none",
        health="failure",
    )
    retry = gateway.GatewayQuery(prompt_tokens=1000, completion_tokens=1000, request_id=first.decision_id, attempt=2)
    [second] = services.route_requests(
        [gateway.route_kwargs(retry, task_type="", priority="medium", max_latency=0, interface="gateway")],
        settlements=[failed],
    )
    return second


def test_a_settlement_in_the_batch_frees_its_money_before_the_next_decision(gateway_seed):
    load_seed(budget="0.02")
    Provider.objects.exclude(key="gpt-4-turbo").update(enabled=False)
    q = gateway.GatewayQuery(prompt_tokens=1000, completion_tokens=1000)  # $0.02 at $10/1M: the whole budget
    first = route(q)
    assert route(q).code == ErrorCode.BUDGET_EXCEEDED
    second = fail_over_from(first)
    assert second.provider_key == "gpt-4-turbo" and second.request_id == first.decision_id
    assert (
        first.route_pk
        and RouteLog.objects.get(decision_id=first.decision_id).attempt_record.outcome == "upstream_error"
    )
    assert Provider.objects.get(key="gpt-4-turbo").breaker_failures == 1


def test_the_route_log_list_shows_each_decisions_provider_attempt_and_what_its_call_did(gateway_seed):
    import re

    from django.contrib.auth import get_user_model
    from django.test import Client

    load_seed(budget="0.02")
    Provider.objects.exclude(key="gpt-4-turbo").update(enabled=False)
    q = gateway.GatewayQuery(prompt_tokens=1000, completion_tokens=1000)
    first = route(q)
    second = fail_over_from(first)
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-walk-1"))
    page = browser.get(f"/admin/llmrouter/routelog/?q={first.decision_id}")
    assert page.status_code == 200
    body = page.content.decode()
    table = body[body.index("<tbody>") : body.index("</tbody>")]
    texts = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)) for row in table.split("<tr")[1:]]
    rows = {found.group(0): text for text in texts if (found := re.search(r"rt_[0-9A-Z]+", text))}
    # decision id, provider, the call's outcome, attempt and the decision's outcome: the columns a narrow screen shows
    assert re.search(r"gpt-4-turbo upstream_error 1 routed gateway", rows[first.decision_id])
    assert re.search(r"gpt-4-turbo - 2 routed gateway", rows[second.decision_id])  # not settled yet: no call record
    failed_only = browser.get("/admin/llmrouter/routelog/?attempt_record__outcome=upstream_error").content.decode()
    assert "By call" in failed_only  # not a second "By outcome"
    assert first.decision_id in failed_only and second.decision_id not in failed_only
    # Each attempt's page lists every attempt of the request, linked, with what its call did.
    detail = browser.get(f"/admin/llmrouter/routelog/{first.route_pk}/change/").content.decode()
    attempts = _text_of(detail[detail.index("Attempts of this request") :])
    assert re.search(r"#1 gpt-4-turbo : upstream_error #2 gpt-4-turbo : -", attempts), attempts[:300]
    assert f'href="/admin/llmrouter/routelog/{second.route_pk}/change/"' in detail
    # The attempt's cost in dollars, as the ledger lines above it are (a failed attempt cost nothing).
    assert re.search(r"Cost: \$0 ", _text_of(detail[detail.index("Route attempt") :])), "attempt cost not in dollars"


def _text_of(html: str) -> str:
    import re

    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_admin_closes_a_providers_breaker_as_the_rest_api_does(gateway_seed):
    from datetime import UTC, datetime

    from django.contrib.auth import get_user_model
    from django.test import Client

    until = datetime.now(UTC) + timedelta(minutes=5)
    Provider.objects.filter(key="gpt-4-turbo").update(breaker_state="open", breaker_failures=3, breaker_until=until)
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw-walk-1"))
    picked = Provider.objects.filter(key__in=["gpt-4-turbo", "local-llama"]).values_list("pk", flat=True)
    page = browser.post(
        "/admin/llmrouter/provider/",
        {"action": "close_breaker", "_selected_action": [str(pk) for pk in picked]},
        follow=True,
    )
    assert page.status_code == 200 and "Closed: gpt-4-turbo." in page.content.decode()
    closed = Provider.objects.get(key="gpt-4-turbo")
    assert (closed.breaker_state, closed.breaker_failures, closed.breaker_until) == ("closed", 0, None)
