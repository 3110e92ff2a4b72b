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

from typing import Any, Iterator

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
    "operations": [{"include-path": "/api/request",
                    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}}}],
})
SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
schema = schemathesis.openapi.from_dict(SCHEMA, config=CONFIG)
# Bounded so both runs stay well under two minutes on a busy two-core machine.
EXAMPLES = settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def live(web_system: System) -> Iterator[dict[str, Any]]:
    system = web_system
    staff = system.manage("create_api_token", "schema-staff", "--create", "--staff")
    member = system.manage("create_api_token", "schema-member", "--create")
    assert staff.returncode == 0 and member.returncode == 0, staff.stderr + member.stderr
    with Daphne(system.env, system.root / "daphne-schema.log").start() as daphne:
        yield {"url": daphne.url, "staff": staff.stdout.strip(), "member": member.stdout.strip()}


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
