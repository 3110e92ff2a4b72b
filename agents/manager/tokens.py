"""Process-control tokens: generated once, stored only as hashes, compared in constant time.

The manager's config (``AgentType(name="manager").config["control_tokens"]``)
holds ``"sha256:<hex>"`` strings. A plain SHA-256 is enough here (no slow
password hash) because the tokens are 32 random bytes, not something a person
chose: there is nothing to guess from a leaked hash. Pure functions, no Django.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

PREFIX = "sha256:"


def token_generate() -> str:
    return "mgr_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: object, stored_hashes: Iterable[object]) -> bool:
    """True when ``token`` hashes to one of ``stored_hashes``.

    Every stored hash is compared (no early exit) with hmac.compare_digest, so
    the time taken says nothing about which hash came close.
    """
    if not isinstance(token, str) or not token:
        return False
    candidate = token_hash(token).encode("ascii")
    matched = False
    for stored in stored_hashes:
        if isinstance(stored, str) and stored.startswith(PREFIX):
            matched |= hmac.compare_digest(candidate, stored.encode("ascii", "replace"))
    return matched
