from __future__ import annotations

import pytest

from agents.naming import cid


def test_make_cid_has_project_environment_kind_and_a_ulid():
    value = cid.make_cid(project="centerfire", environment="test", kind="namespace")
    parts = cid.parse_cid(value)
    assert value.startswith("cid:centerfire:test:namespace:")
    assert parts is not None and len(parts["ulid"]) == 26


def test_make_cid_is_unique_per_call():
    values = {cid.make_cid(project="p", environment="dev", kind="session") for _ in range(2000)}
    assert len(values) == 2000


@pytest.mark.parametrize("bad", ["", "a:b", "Upper", "has space", "x" * 64])
def test_make_cid_rejects_parts_that_would_make_it_ambiguous(bad):
    with pytest.raises(ValueError):
        cid.make_cid(project=bad, environment="dev", kind="namespace")


def test_make_cid_rejects_a_given_ulid_that_is_not_one():
    with pytest.raises(ValueError):
        cid.make_cid(project="p", environment="dev", kind="namespace", ulid="not-a-ulid")


def test_parse_cid_returns_none_for_malformed_text():
    assert cid.parse_cid("cid:p:dev:namespace") is None
    assert cid.parse_cid("cid:p:dev:namespace:01K4ABCDEF") is None


def test_ulid8_takes_the_random_tail_so_names_made_together_differ():
    ulid = cid.new_ulid()
    assert cid.ulid8(ulid) == ulid[-8:]
    assert len({cid.ulid8() for _ in range(1000)}) == 1000


@pytest.mark.parametrize(
    "text, slug",
    [
        ("User Auth Service", "user-auth-service"),
        ("  Café -- crème (v2) ", "cafe-creme-v2"),
        ("snake_case_name", "snake-case-name"),
        ("!!!", ""),
    ],
)
def test_slugify_name_makes_lower_case_hyphenated_ascii(text, slug):
    assert cid.slugify_name(text) == slug


def test_slugify_name_truncates_without_a_trailing_hyphen():
    slug = cid.slugify_name("word " * 40)
    assert len(slug) <= cid.SLUG_MAX_LENGTH and not slug.endswith("-")


def test_directory_name_joins_slug_and_ulid8_with_double_underscore():
    ulid = cid.new_ulid()
    assert cid.directory_name("user-auth", ulid) == f"user-auth__{ulid[-8:]}"
