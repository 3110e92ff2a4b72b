from __future__ import annotations

from agents.manager.tokens import token_generate, token_hash, token_matches


def test_a_token_matches_its_own_hash_among_others():
    mine, other = token_generate(), token_generate()
    assert token_matches(mine, [token_hash(other), token_hash(mine)])
    assert not token_matches(mine, [token_hash(other)])


def test_only_the_hash_is_stored_not_the_token():
    token = token_generate()
    stored = token_hash(token)
    assert token not in stored and stored.startswith("sha256:")


def test_missing_empty_or_non_string_tokens_never_match():
    stored = [token_hash("x")]
    for candidate in (None, "", 123, ["x"]):
        assert not token_matches(candidate, stored)


def test_malformed_stored_entries_are_ignored():
    token = token_generate()
    assert not token_matches(token, [None, 5, token, "md5:abc"])
    assert token_matches(token, [None, 5, token_hash(token)])
