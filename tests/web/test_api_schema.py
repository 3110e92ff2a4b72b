"""The OpenAPI schema is the truth: schemathesis checks every operation it lists against a live Daphne.

Every check schemathesis has is on (status codes, content types, headers,
response bodies, negative data rejected, positive data accepted, methods,
auth), for a staff token and a non-staff one, on every path the schema lists
(the /v1/ gateway's too, once it is there). Two of the checks are told what
this API answers by design, each a documented status with the error envelope:

* the gateway statuses 502/503/504 are not server errors here: they mean an
  agent is not running or did not answer in time (/api/request);
* valid input can still get 402 (hard-capped budget spent) or 422 (no provider
  has that capability) from the router;
* /api/request's ``data`` is the agent action's own input, which the schema
  leaves open: the agent's 400 VALIDATION_ERROR for it is an answer, not a
  schema-valid request wrongly refused.

A 500 always fails. The schema is generated in this process by the same code
as /api/schema/; ``test_live_schema_is_the_one_checked`` ties the two.

Schemathesis lets an answer carry fields its schema does not name. The
``test_real_*`` tests take real answers of POST /api/route-llm (a decision,
refusals, the usage report) and POST /api/request, from the fast paths and the
DRF views, and check them field for field against the served schema
(``answers_vs_schema``): a field added to an answer and not to its schema fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from tests.support.system import System
from tests.web.answers_vs_schema import check_answer, response_schema
from tests.web.daphne_proc import Daphne

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

GATEWAY_STATUSES = ["502", "503", "504"]
ACCEPTED = ["2xx", "3xx", "401", "402", "403", "404", "409", "422", "429", *GATEWAY_STATUSES]
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", *GATEWAY_STATUSES]},
            "positive_data_acceptance": {"expected-statuses": ACCEPTED},
        },
        "operations": [
            {
                "include-path": "/api/request",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            },
            # A budget's timezone is an enum of every IANA name (~600): the coverage phase would send each
            # one per write operation (2,000 requests, most of this test's time). The fuzzing phase still
            # sends valid and invalid budgets, timezones among them.
            {
                "include-path-regex": "^/api/budgets/",
                "include-method": ["POST", "PUT", "PATCH"],
                "phases": {"coverage": {"enabled": False}},
            },
        ],
    }
)
SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
schema = schemathesis.openapi.from_dict(SCHEMA, config=CONFIG)
# Bounded so both runs stay within a minute or two on a busy two-core machine; derandomized so
# the suite is repeatable (set derandomize=False locally to explore new cases).
EXAMPLES = settings(max_examples=5, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def live(web_system: System) -> Iterator[dict[str, Any]]:
    system = web_system
    staff = system.manage("create_api_token", "schema-staff", "--create", "--staff")
    member = system.manage("create_api_token", "schema-member", "--create")
    assert staff.returncode == 0 and member.returncode == 0, staff.stderr + member.stderr
    with Daphne(system.env, system.root / "daphne-schema.log").start() as daphne:
        yield {"url": daphne.url, "staff": staff.stdout.strip(), "member": member.stdout.strip()}


def _texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                yield value
            yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


def test_descriptions_have_no_literal_rst_markup() -> None:
    # Docstrings are written for Sphinx-less readers, but ``this`` and :class:`x` used to leak into the schema.
    leaks = [text for text in _texts(SCHEMA) if re.search(r"``|:(class|func|meth|attr|mod):`|^\.\. ", text, re.M)]
    assert not leaks, leaks


def test_every_operation_documents_its_errors_with_the_envelope() -> None:
    # /api/ answers errors in the wire protocol's envelope; the OpenAI-compatible /v1/ in OpenAI's shape,
    # which the SDKs parse (docs/gateway.md).
    for path, item in SCHEMA["paths"].items():
        envelope = "#/components/schemas/" + ("GatewayError" if path.startswith("/v1/") else "ErrorEnvelope")
        for method, operation in item.items():
            errors = {code: r for code, r in operation["responses"].items() if code.isdigit() and int(code) >= 400}
            assert "401" in errors, f"{method.upper()} {path}"
            for code, response in errors.items():
                refs = [c["schema"].get("$ref") for c in response.get("content", {}).values()]
                assert refs == [envelope], f"{method.upper()} {path} {code}: {refs}"


def test_live_schema_is_the_one_checked(live: dict[str, Any]) -> None:
    served = httpx.get(live["url"] + "/api/schema/?format=json", timeout=30)
    assert served.status_code == 200
    assert served.json() == SCHEMA


@pytest.fixture(scope="module")
def served(live: dict[str, Any]) -> dict[str, Any]:
    return httpx.get(live["url"] + "/api/schema/?format=json", timeout=30).json()


ROUTE = "/api/route-llm"
WORKED = {
    "token_count": 5000,
    "task_type": "analysis",
    "priority": "high",
    "max_latency": 3000,
    "interface": "schema-test",
    "id": "job-1",
}


def test_real_route_llm_answers_are_what_the_served_schema_says(live: dict[str, Any], served: dict[str, Any]) -> None:
    member = {"Authorization": f"Token {live['member']}"}
    with httpx.Client(base_url=live["url"], timeout=30) as client:
        decision = client.post(ROUTE, json=WORKED, headers=member)
        assert decision.status_code == 200, decision.text
        check_answer(served, ROUTE, "POST", 200, decision.json())
        assert decision.json()["id"] == "job-1" and decision.json()["candidates"]
        refusals = [
            client.post(ROUTE, json={"token_count": 5, "task_type": "vision"}, headers=member),  # 422
            client.post(ROUTE, json={"token_count": -1}, headers=member),  # 400
            client.post(ROUTE, json=WORKED, headers={"Authorization": "Token not-a-token"}),
        ]  # 401
        assert [r.status_code for r in refusals] == [422, 400, 401], [r.text for r in refusals]
        for refusal in refusals:
            check_answer(served, ROUTE, "POST", refusal.status_code, refusal.json())
        usage_path = f"{ROUTE}/{decision.json()['decision_id']}/usage"
        usage = client.post(usage_path, json={"prompt_tokens": 4000, "completion_tokens": 1000}, headers=member)
        assert usage.status_code == 200, usage.text
        check_answer(served, usage_path, "POST", 200, usage.json(), template=ROUTE + "/{decision_id}/usage")


def test_real_agent_request_answers_are_what_the_served_schema_says(
    live: dict[str, Any], served: dict[str, Any]
) -> None:
    member = {"Authorization": f"Token {live['member']}"}
    with httpx.Client(base_url=live["url"], timeout=30) as client:
        status = client.post(
            "/api/request", json={"id": 7, "agent": "orchestrator", "action": "status"}, headers=member
        )
        unknown = client.post("/api/request", json={"agent": "no-such-agent", "action": "x"}, headers=member)
    assert (status.status_code, unknown.status_code) == (200, 404), (status.text, unknown.text)
    check_answer(served, "/api/request", "POST", 200, status.json())
    check_answer(served, "/api/request", "POST", 404, unknown.json())


@pytest.mark.django_db(transaction=True)
def test_real_answers_of_the_drf_views_are_what_the_schema_says(orchestrator: System) -> None:
    """The other shell: a session caller is served by the DRF views (in this process, same schema)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from tests.llmrouter.conftest import load_seed

    load_seed()
    browser = Client()
    browser.force_login(get_user_model().objects.create_user("schema-session"))
    decision = browser.post(ROUTE, WORKED, content_type="application/json")
    refusal = browser.post(ROUTE, {"token_count": 5, "task_type": "vision"}, content_type="application/json")
    status = browser.post(
        "/api/request", {"agent": "orchestrator", "action": "status"}, content_type="application/json"
    )
    unknown = browser.post("/api/request", {"agent": "no-such-agent", "action": "x"}, content_type="application/json")
    assert [r.status_code for r in (decision, refusal, status, unknown)] == [200, 422, 200, 404]
    check_answer(SCHEMA, ROUTE, "POST", 200, decision.json())
    check_answer(SCHEMA, ROUTE, "POST", 422, refusal.json())
    check_answer(SCHEMA, "/api/request", "POST", 200, status.json())
    check_answer(SCHEMA, "/api/request", "POST", 404, unknown.json())


def test_the_check_fails_an_answer_with_a_field_its_schema_lacks() -> None:
    answer = {
        "provider": "Local Llama",
        "reasoning": "r",
        "estimated_cost": 0.0,
        "confidence": 0.6,
        "decision_id": "rt_1",
        "provider_key": "local-llama",
        "candidates": [],
        "status": "success",
        "timestamp": "2026-01-01T00:00:00Z",
    }
    check_answer(SCHEMA, ROUTE, "POST", 200, answer)
    with pytest.raises(AssertionError, match="'latency_ms' was unexpected"):
        check_answer(SCHEMA, ROUTE, "POST", 200, {**answer, "latency_ms": 800})
    with pytest.raises(AssertionError, match="'decision_id' is a required property"):
        check_answer(SCHEMA, ROUTE, "POST", 200, {k: v for k, v in answer.items() if k != "decision_id"})
    assert response_schema(SCHEMA, ROUTE, "POST", 200)["additionalProperties"] is False


@schema.parametrize()
@EXAMPLES
def test_api_behaves_as_its_schema_says_for_staff(case: Any, live: dict[str, Any]) -> None:
    case.call_and_validate(base_url=live["url"], headers={"Authorization": f"Token {live['staff']}"})


@schema.parametrize()
@EXAMPLES
def test_api_behaves_as_its_schema_says_for_member(case: Any, live: dict[str, Any]) -> None:
    case.call_and_validate(base_url=live["url"], headers={"Authorization": f"Token {live['member']}"})
