from __future__ import annotations

import pytest

from agents.naming import validation
from agents.naming.conf import NamingConfigError, NamingSettings


@pytest.mark.parametrize("name", ["centerfire.test.ns1", "centerfire.dev.auth-service", "p.prod.a.b.c"])
def test_well_formed_namespaces_have_no_problems(name):
    assert validation.namespace_problems(name) == []


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("centerfire.test", "must have the form"),
        ("centerfire.staging.ns1", "is not one of"),
        ("Centerfire.test.x", "lower case"),
        ("centerfire.test.-x", "must start with a letter"),
        ("centerfire.test.a:b", "must start with a letter"),
        ("centerfire..x", "is empty"),
        ("x" * 201, "longer than"),
    ],
)
def test_malformed_namespaces_name_their_problem(name, fragment):
    problems = validation.namespace_problems(name)
    assert problems and any(fragment in p for p in problems), problems


def test_namespace_environment_is_checked_against_the_given_list():
    assert validation.namespace_problems("p.staging.x", ("staging",)) == []
    assert validation.namespace_problems("p.dev.x", ("staging",))


def test_sequenced_names_are_recognised():
    assert validation.is_sequenced_namespace("centerfire.test.ns12")
    assert not validation.is_sequenced_namespace("centerfire.test.nsx")
    assert not validation.is_sequenced_namespace("centerfire.test.ns1.sub")


@pytest.mark.parametrize(
    "cap, ok",
    [
        ("CAP-AUTH-1", True),
        ("CAP-USER_DATA-42", True),
        ("CAP-AUTH-0", False),
        ("CAP-AUTH-01", False),
        ("CAP-auth-1", False),
        ("CAP-AU-TH-1", False),
        ("cap-AUTH-1", False),
        ("CAP-AUTH", False),
    ],
)
def test_capability_ids_follow_cap_domain_n(cap, ok):
    assert (validation.capability_id_problems(cap) == []) is ok


def test_domains_are_accepted_in_any_case_and_normalised_to_capitals():
    assert validation.domain_problems("auth") == []
    assert validation.normalize_domain(" auth ") == "AUTH"
    assert validation.domain_problems("au-th")
    assert validation.domain_problems("1auth")


def test_slug_problems_suggest_a_valid_slug():
    problems = validation.slug_problems("User Auth")
    assert problems and "user-auth" in problems[0]
    assert validation.slug_problems("user-auth") == []
    assert validation.slug_problems("user--auth")


def test_directory_needs_slug_and_ulid8():
    assert validation.directory_problems("user-auth__01K4ABCD") == []
    assert validation.directory_problems("user-auth_01K4ABCD")
    assert validation.directory_problems("User__01K4ABCD")


def test_name_problems_dispatches_on_kind_and_rejects_unknown_kinds():
    assert validation.name_problems("cid", "cid:p:dev:namespace:01K4ABCDEFGHJKMNPQRSTVWXYZ") == []
    assert validation.name_problems("cid", "cid:p:nope:namespace:01K4ABCDEFGHJKMNPQRSTVWXYZ")
    with pytest.raises(KeyError):
        validation.name_problems("planet", "earth")


def test_settings_default_to_dev_test_prod_and_centerfire():
    settings = NamingSettings.from_config({})
    assert settings.environments == ("dev", "test", "prod")
    assert settings.default_project == "centerfire"
    assert settings.default_environment == "dev"


@pytest.mark.parametrize(
    "config",
    [
        {"environments": []},
        {"environments": "dev"},
        {"environments": ["Dev"]},
        {"default_project": "no.dots"},
        {"environments": ["a", "b"], "default_environment": "c"},
    ],
)
def test_bad_settings_fail_loudly(config):
    with pytest.raises(NamingConfigError):
        NamingSettings.from_config(config)
