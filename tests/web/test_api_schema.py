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
from tests.web.daphne_proc import Daphne

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

GATEWAY_STATUSES = ["502", "503", "504"]
ACCEPTED = ["2xx", "3xx", "401", "402", "403", "404", "409", "422", "429", *GATEWAY_STATUSES]
CONFIG = SchemathesisConfig.from_dict({
    "checks": {
        "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", *GATEWAY_STATUSES]},
        "positive_data_acceptance": {"expected-statuses": ACCEPTED},
    },
    "operations": [
        {"include-path": "/api/request",
         "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}},
        # A budget's timezone is an enum of every IANA name (~600): the coverage phase would send each
        # one per write operation (2,000 requests, most of this test's time). The fuzzing phase still
        # sends valid and invalid budgets, timezones among them.
        {"include-path-regex": "^/api/budgets/", "include-method": ["POST", "PUT", "PATCH"],
         "phases": {"coverage": {"enabled": False}}},
    ],
})
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


@schema.parametrize()
@EXAMPLES
def test_api_behaves_as_its_schema_says_for_staff(case: Any, live: dict[str, Any]) -> None:
    case.call_and_validate(base_url=live["url"], headers={"Authorization": f"Token {live['staff']}"})


@schema.parametrize()
@EXAMPLES
def test_api_behaves_as_its_schema_says_for_member(case: Any, live: dict[str, Any]) -> None:
    case.call_and_validate(base_url=live["url"], headers={"Authorization": f"Token {live['member']}"})
