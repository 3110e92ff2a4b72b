"""The allocation services against the real database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents.naming import cid as cids
from agents.naming import services
from agents.naming.conf import NamingSettings
from agents.naming.models import Capability, Namespace, SequenceCounter, Session
from agents.protocol import ErrorCode, ProtocolError

from .conftest import SETTINGS

pytestmark = pytest.mark.django_db


def allocate(project: str, environment: str = "test", **kwargs):
    return services.namespace_allocate(project=project, environment=environment, settings=SETTINGS, **kwargs)


def test_namespaces_are_numbered_from_one_per_project_and_environment(project):
    names = [allocate(project).obj.name for _ in range(3)]
    other_env = allocate(project, "dev").obj
    assert names == [f"{project}.test.ns1", f"{project}.test.ns2", f"{project}.test.ns3"]
    assert other_env.name == f"{project}.dev.ns1" and other_env.sequence == 1


def test_namespace_cid_names_project_environment_and_kind(project):
    ns = allocate(project).obj
    parts = cids.parse_cid(ns.cid)
    assert parts == {"project": project, "environment": "test", "kind": "namespace", "ulid": parts["ulid"]}


def test_project_defaults_to_the_configured_default_project():
    settings = NamingSettings(default_project="defaultproj")
    ns = services.namespace_allocate(environment="prod", settings=settings).obj
    assert ns.name.startswith("defaultproj.prod.ns")


def test_environment_outside_the_configured_list_is_a_validation_error(project):
    with pytest.raises(ProtocolError) as exc:
        allocate(project, "staging")
    assert exc.value.code == ErrorCode.VALIDATION_ERROR
    assert exc.value.details["field"] == "environment"
    assert not Namespace.objects.filter(project=project).exists()


def test_configured_environments_replace_the_defaults(project):
    settings = NamingSettings(environments=("staging",), default_environment="staging")
    assert services.namespace_allocate(project=project, environment="staging", settings=settings).obj.sequence == 1
    with pytest.raises(ProtocolError):
        services.namespace_allocate(project=project, environment="dev", settings=settings)


def test_missing_environment_is_a_validation_error(project):
    with pytest.raises(ProtocolError) as exc:
        allocate(project, "")
    assert exc.value.code == ErrorCode.VALIDATION_ERROR


def test_explicit_namespace_is_stored_without_a_sequence_number(project):
    ns = allocate(project, namespace=f"{project}.test.billing").obj
    assert ns.name == f"{project}.test.billing" and ns.sequence is None
    assert allocate(project).obj.name == f"{project}.test.ns1"


def test_explicit_namespace_that_exists_is_a_collision_naming_the_existing_one(project):
    first = allocate(project, namespace=f"{project}.test.billing").obj
    with pytest.raises(ProtocolError) as exc:
        allocate(project, namespace=f"{project}.test.billing")
    assert exc.value.code == ErrorCode.NAMESPACE_COLLISION
    assert exc.value.details["existing_namespace"] == first.name
    assert exc.value.details["cid"] == first.cid


def test_explicit_sequenced_name_that_exists_is_a_collision(project):
    first = allocate(project).obj
    with pytest.raises(ProtocolError) as exc:
        allocate(project, namespace=first.name)
    assert exc.value.code == ErrorCode.NAMESPACE_COLLISION
    assert exc.value.details == {
        "existing_namespace": first.name,
        "cid": first.cid,
        "created_at": exc.value.details["created_at"],
    }


def test_explicit_sequenced_name_not_yet_handed_out_is_refused_to_keep_the_sequence_whole(project):
    with pytest.raises(ProtocolError) as exc:
        allocate(project, namespace=f"{project}.test.ns7")
    assert exc.value.code == ErrorCode.VALIDATION_ERROR
    assert allocate(project).obj.sequence == 1


def test_explicit_namespace_must_belong_to_the_requested_project_and_environment(project):
    with pytest.raises(ProtocolError) as exc:
        allocate(project, namespace="otherproject.test.thing")
    assert exc.value.code == ErrorCode.VALIDATION_ERROR


def test_a_failed_allocation_does_not_use_up_a_number(project):
    allocate(project, namespace=f"{project}.test.taken")
    for _ in range(3):
        with pytest.raises(ProtocolError):
            allocate(project, namespace=f"{project}.test.taken")
    assert allocate(project).obj.sequence == 1
    assert SequenceCounter.objects.get(scope=f"namespace:{project}.test").last_value == 1


def test_repeated_idempotency_key_returns_the_first_allocation(project):
    key = services.idempotency_key_for(idempotency_key="retry-me")
    first = allocate(project, idempotency_key=key)
    again = allocate(project, idempotency_key=key)
    assert not first.replayed and again.replayed
    assert (again.obj.name, again.obj.cid) == (first.obj.name, first.obj.cid)
    assert Namespace.objects.filter(project=project).count() == 1
    # The replay's INSERT failed on the key and rolled its counter bump back: no gap.
    assert allocate(project).obj.sequence == first.obj.sequence + 1
    assert SequenceCounter.objects.get(scope=f"namespace:{project}.test").last_value == first.obj.sequence + 1


def test_idempotency_key_reused_for_different_parameters_is_a_conflict(project):
    key = services.idempotency_key_for(idempotency_key="k-conflict")
    first = allocate(project, idempotency_key=key).obj
    with pytest.raises(ProtocolError) as exc:
        allocate(project, "dev", idempotency_key=key)
    assert exc.value.code == ErrorCode.CONFLICT
    assert exc.value.details["existing"]["namespace"] == first.name


def test_explicit_key_and_request_id_with_the_same_text_do_not_answer_for_each_other(project):
    same = "0123456789abcdef0123"
    by_key = allocate(project, idempotency_key=services.idempotency_key_for(idempotency_key=same)).obj
    by_id = allocate(project, idempotency_key=services.idempotency_key_for(idempotency_key=None, request_id=same)).obj
    assert by_key.name != by_id.name


def test_explicit_key_wins_over_request_id_and_long_keys_are_hashed():
    uuid_like = "6f1c2a9e-4b7d-4c1e-9a43-0d5e8f7b2c11"
    assert services.idempotency_key_for(idempotency_key="k", request_id=uuid_like) == "key:k"
    assert services.idempotency_key_for(idempotency_key=None, request_id=uuid_like) == f"id:{uuid_like}"
    assert services.idempotency_key_for(idempotency_key=None, request_id=None) is None
    long_key = services.idempotency_key_for(idempotency_key=None, request_id="x" * 1000)
    assert len(long_key) <= 255 and long_key.startswith("id:sha256:")


def test_capabilities_are_numbered_per_domain_with_cid_and_folder_name(project):
    one = services.capability_allocate(domain="auth", name="User Auth", project=project, settings=SETTINGS).obj
    two = services.capability_allocate(domain="AUTH", name="Token Store", project=project, settings=SETTINGS).obj
    first_domain = one.sequence
    assert one.capability_id == f"CAP-AUTH-{first_domain}" and two.capability_id == f"CAP-AUTH-{first_domain + 1}"
    assert one.directory == f"user-auth__{cids.parse_cid(one.cid)['ulid'][-8:]}"
    assert cids.parse_cid(one.cid)["kind"] == "capability"
    assert one.environment == "dev"  # the default environment


def test_capability_name_without_letters_needs_a_slug(project):
    with pytest.raises(ProtocolError) as exc:
        services.capability_allocate(domain="X", name="!!!", project=project, settings=SETTINGS)
    assert exc.value.code == ErrorCode.VALIDATION_ERROR
    cap = services.capability_allocate(domain="X", name="!!!", slug="bang", project=project, settings=SETTINGS).obj
    assert cap.directory.startswith("bang__")


def test_capability_with_bad_domain_is_refused_before_numbering(project):
    with pytest.raises(ProtocolError) as exc:
        services.capability_allocate(domain="no-dash", name="x", project=project, settings=SETTINGS)
    assert exc.value.code == ErrorCode.VALIDATION_ERROR
    assert not Capability.objects.filter(project=project).exists()


def test_capability_record_path_keeps_the_first_path(project):
    cap = services.capability_allocate(domain="REC", name="x", project=project, settings=SETTINGS).obj
    assert services.capability_record_path(capability_id=cap.capability_id, path="/a").path == "/a"
    assert services.capability_record_path(capability_id=cap.capability_id, path="/b").path == "/a"


def test_session_gets_id_cid_and_expiry_from_ttl(project):
    session = services.session_allocate(
        project=project, environment="prod", ttl_s=60, metadata={"user": "ann"}, settings=SETTINGS
    ).obj
    assert session.session_id.startswith("ses_") and session.cid.endswith(session.session_id[4:])
    assert cids.parse_cid(session.cid)["kind"] == "session"
    assert session.expires_at - session.created_at == timedelta(seconds=60)
    assert Session.objects.get(session_id=session.session_id).metadata == {"user": "ann"}


@pytest.mark.parametrize("kwargs", [{"ttl_s": 0}, {"ttl_s": 10**9}, {"metadata": {"x": "y" * 9000}}])
def test_session_limits_are_validation_errors(project, kwargs):
    with pytest.raises(ProtocolError) as exc:
        services.session_allocate(project=project, settings=SETTINGS, **kwargs)
    assert exc.value.code == ErrorCode.VALIDATION_ERROR


@pytest.mark.parametrize("request_id", [1, 42, "1", "req-7", "short-id-15char"])
def test_counter_like_request_ids_are_never_keys(request_id):
    # The orchestrator's internal ids restart at 1 with every run, and clients
    # reuse "1" on every connection: as keys they would replay old allocations.
    assert services.idempotency_key_for(idempotency_key=None, request_id=request_id) is None
