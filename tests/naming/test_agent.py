"""The naming agent's handlers through Agent.handle, as a transport calls them.

Handlers run in the agent's worker threads with their own database
connections, hence transactional tests (committed data, visible to them).
"""

from __future__ import annotations

import uuid

import pytest

from agents.naming.agent import NamingAgent
from agents.naming.conf import NamingConfigError
from agents.naming.models import Capability, Namespace, Session

pytestmark = pytest.mark.django_db(transaction=True)


def ok(frame):
    assert frame["status"] == "success", frame
    return frame["data"]


def err(frame, code):
    assert frame["status"] == "error", frame
    assert frame["error"]["code"] == code, frame
    return frame["error"]


def test_allocate_namespace_answers_with_namespace_and_cid(make_agent):
    agent = make_agent()
    frame = agent.handle({"id": "r1", "action": "allocate_namespace", "environment": "test", "project": "centerfire"})
    data = ok(frame)
    assert frame["id"] == "r1"
    assert data["namespace"] == "centerfire.test.ns1" and data["sequence"] == 1
    assert data["cid"].startswith("cid:centerfire:test:namespace:")
    assert Namespace.objects.get(name="centerfire.test.ns1").allocated_by == "NAMING-TEST"


def test_project_defaults_to_the_configured_default_project(make_agent):
    agent = make_agent({"default_project": "acme"})
    assert (
        ok(agent.handle({"action": "allocate_namespace", "data": {"environment": "prod"}}))["namespace"]
        == "acme.prod.ns1"
    )


def test_missing_environment_is_a_validation_error(make_agent):
    error = err(
        make_agent().handle({"action": "allocate_namespace", "data": {"project": "centerfire"}}), "VALIDATION_ERROR"
    )
    assert error["details"]["field"] == "environment"
    assert not Namespace.objects.exists()


def test_environments_come_from_the_agent_configuration(make_agent):
    default = make_agent()
    custom = make_agent({"environments": ["staging", "prod"]})
    err(default.handle({"action": "allocate_namespace", "environment": "staging"}), "VALIDATION_ERROR")
    assert (
        ok(custom.handle({"action": "allocate_namespace", "environment": "staging"}))["namespace"]
        == "centerfire.staging.ns1"
    )
    err(custom.handle({"action": "allocate_namespace", "environment": "dev"}), "VALIDATION_ERROR")


def test_wrongly_typed_field_is_a_validation_error(make_agent):
    err(make_agent().handle({"action": "allocate_namespace", "data": {"environment": 5}}), "VALIDATION_ERROR")


def test_an_unusable_configuration_stops_the_agent_at_start():
    with pytest.raises(NamingConfigError):
        NamingAgent("bad", {"environments": "dev"})


def test_explicit_namespace_that_exists_is_namespace_collision_with_the_existing_one(make_agent):
    agent = make_agent()
    first = ok(agent.handle({"action": "allocate_namespace", "environment": "test"}))
    error = err(
        agent.handle({"action": "allocate_namespace", "environment": "test", "namespace": first["namespace"]}),
        "NAMESPACE_COLLISION",
    )
    assert error["details"]["existing_namespace"] == first["namespace"]
    assert error["details"]["cid"] == first["cid"]


def test_explicit_new_namespace_is_allocated_as_named(make_agent):
    data = ok(
        make_agent().handle(
            {"action": "allocate_namespace", "environment": "dev", "namespace": "centerfire.dev.search-index"}
        )
    )
    assert data["namespace"] == "centerfire.dev.search-index" and data["sequence"] is None


def test_same_idempotency_key_returns_the_first_answer(make_agent):
    agent = make_agent()
    request = {"action": "allocate_namespace", "idempotency_key": "once", "data": {"environment": "test"}}
    first, second = ok(agent.handle(dict(request, id=1))), ok(agent.handle(dict(request, id=2)))
    assert first == second
    assert Namespace.objects.count() == 1


def test_idempotency_key_reused_with_other_data_is_a_conflict(make_agent):
    agent = make_agent()
    ok(agent.handle({"action": "allocate_namespace", "idempotency_key": "k1", "data": {"environment": "test"}}))
    error = err(
        agent.handle({"action": "allocate_namespace", "idempotency_key": "k1", "data": {"environment": "prod"}}),
        "CONFLICT",
    )
    assert error["details"]["existing"]["environment"] == "test"


def test_a_repeated_unique_request_id_replays_but_a_counter_id_does_not(make_agent):
    agent = make_agent()
    rid = str(uuid.uuid4())
    first = ok(agent.handle({"id": rid, "action": "allocate_namespace", "environment": "test"}))
    again = ok(agent.handle({"id": rid, "action": "allocate_namespace", "environment": "test"}))
    assert again == first
    one = ok(agent.handle({"id": 1, "action": "allocate_namespace", "environment": "test"}))
    one_again = ok(agent.handle({"id": 1, "action": "allocate_namespace", "environment": "test"}))
    assert [first["sequence"], one["sequence"], one_again["sequence"]] == [1, 2, 3]


def test_concurrent_handler_calls_get_distinct_gap_free_numbers(make_agent):
    agent = make_agent()
    frames = agent.gather([{"action": "allocate_namespace", "environment": "dev"} for _ in range(60)])
    assert sorted(ok(f)["sequence"] for f in frames) == list(range(1, 61))


def test_allocate_capability_answers_id_cid_and_folder_name(make_agent):
    data = ok(
        make_agent().handle(
            {"action": "allocate_capability", "data": {"domain": "auth", "name": "User Auth", "purpose": "logins"}}
        )
    )
    assert data["capability_id"] == "CAP-AUTH-1"
    assert data["cid"].startswith("cid:centerfire:dev:capability:")
    assert data["directory"] == f"user-auth__{data['cid'][-8:]}"
    assert data["path"] is None and Capability.objects.get(capability_id="CAP-AUTH-1").purpose == "logins"


def test_allocate_capability_requires_domain_and_name(make_agent):
    agent = make_agent()
    err(agent.handle({"action": "allocate_capability", "data": {"name": "x"}}), "VALIDATION_ERROR")
    err(agent.handle({"action": "allocate_capability", "data": {"domain": "AUTH"}}), "VALIDATION_ERROR")
    err(agent.handle({"action": "allocate_capability", "data": {"domain": "A-B", "name": "x"}}), "VALIDATION_ERROR")


def test_allocate_session_with_ttl_and_metadata(make_agent):
    data = ok(
        make_agent().handle(
            {"action": "allocate_session", "data": {"environment": "test", "ttl_s": 3600, "metadata": {"user": "ann"}}}
        )
    )
    assert data["session_id"].startswith("ses_") and data["cid"].startswith("cid:centerfire:test:session:")
    assert data["expires_at"] is not None and data["metadata"] == {"user": "ann"}
    assert Session.objects.filter(session_id=data["session_id"]).exists()


def test_allocate_session_rejects_a_bad_ttl(make_agent):
    err(make_agent().handle({"action": "allocate_session", "data": {"ttl_s": 0}}), "VALIDATION_ERROR")


def test_validate_name_reports_problems_without_storing_anything(make_agent):
    agent = make_agent()
    bad = ok(agent.handle({"action": "validate_name", "data": {"name": "Centerfire.staging.x"}}))
    assert bad["kind"] == "namespace" and bad["valid"] is False and len(bad["problems"]) >= 2
    good = ok(agent.handle({"action": "validate_name", "data": {"name": "centerfire.test.api", "kind": "namespace"}}))
    assert good == {"name": "centerfire.test.api", "kind": "namespace", "valid": True, "problems": [], "exists": False}
    assert not Namespace.objects.exists()


def test_validate_name_says_whether_a_valid_name_is_taken(make_agent):
    agent = make_agent()
    ns = ok(agent.handle({"action": "allocate_namespace", "environment": "test"}))["namespace"]
    data = ok(agent.handle({"action": "validate_name", "data": {"name": ns}}))
    assert data["valid"] and data["exists"] and data["sequenced"]


@pytest.mark.parametrize(
    "name, kind",
    [
        ("CAP-AUTH-1", "capability"),
        ("user-auth", "slug"),
        ("user-auth__01K4ABCD", "directory"),
        ("ses_x", "session"),
        ("cid:a:dev:namespace:x", "cid"),
    ],
)
def test_validate_name_guesses_the_kind_from_the_shape(make_agent, name, kind):
    assert ok(make_agent().handle({"action": "validate_name", "data": {"name": name}}))["kind"] == kind


def test_validate_name_rejects_an_unknown_kind(make_agent):
    err(make_agent().handle({"action": "validate_name", "data": {"name": "x", "kind": "planet"}}), "VALIDATION_ERROR")


def test_list_namespaces_filters_and_pages(make_agent):
    agent = make_agent()
    for env in ("test", "test", "test", "dev"):
        ok(agent.handle({"action": "allocate_namespace", "environment": env}))
    ok(agent.handle({"action": "allocate_namespace", "environment": "test", "project": "other"}))
    page1 = ok(
        agent.handle(
            {"action": "list_namespaces", "data": {"project": "centerfire", "environment": "test", "limit": 2}}
        )
    )
    assert [n["namespace"] for n in page1["namespaces"]] == ["centerfire.test.ns1", "centerfire.test.ns2"]
    assert page1["total"] == 3 and page1["next_offset"] == 2
    page2 = ok(
        agent.handle(
            {
                "action": "list_namespaces",
                "data": {"project": "centerfire", "environment": "test", "limit": 2, "offset": 2},
            }
        )
    )
    assert [n["namespace"] for n in page2["namespaces"]] == ["centerfire.test.ns3"] and page2["next_offset"] is None
    everything = ok(agent.handle({"action": "list_namespaces"}))
    assert everything["total"] == 5
    err(agent.handle({"action": "list_namespaces", "data": {"limit": 100000}}), "VALIDATION_ERROR")


def test_only_read_actions_are_declared_idempotent(make_agent):
    actions = {a["name"]: a for a in ok(make_agent().handle({"action": "describe"}))["actions"]}
    assert {n for n, a in actions.items() if a["idempotent"]} == {
        "echo",
        "describe",
        "validate_name",
        "list_namespaces",
    }
    assert {"allocate_namespace", "allocate_capability", "allocate_session"} <= set(actions)
