"""Content identifiers (CIDs), ULID fragments and slugs. Pure: no Django import.

A CID names one allocated thing for good::

    cid:<project>:<environment>:<kind>:<ULID>

The ULID makes it unique without a database round trip and sorts by creation
time. Directory names of capability folders are ``<slug>__<ULID8>``.
"""

from __future__ import annotations

import re
import unicodedata

from ulid import ULID

CID_PREFIX = "cid"
ULID_LENGTH = 26
ULID8_LENGTH = 8
SLUG_MAX_LENGTH = 48

# Crockford base32, the alphabet of a ULID's text form.
_ULID_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
# A CID part may not contain the separator and must be printable and short.
_PART_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CID_RE = re.compile(
    r"cid:(?P<project>[a-z0-9][a-z0-9_-]{0,62}):(?P<environment>[a-z0-9][a-z0-9_-]{0,62})"
    r":(?P<kind>[a-z0-9][a-z0-9_-]{0,62}):(?P<ulid>[0-9A-HJKMNP-TV-Z]{26})"
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def new_ulid() -> str:
    """A fresh ULID as its 26-character text."""
    return str(ULID())


def make_cid(*, project: str, environment: str, kind: str, ulid: str | None = None) -> str:
    """``cid:<project>:<environment>:<kind>:<ULID>``; a fresh ULID unless one is given.

    Raises ValueError for a part that would make the CID ambiguous (a ``:``,
    upper case, empty) so a bad caller fails here and not in a parser later.
    """
    for label, part in (("project", project), ("environment", environment), ("kind", kind)):
        if not isinstance(part, str) or not _PART_RE.fullmatch(part):
            raise ValueError(f"CID {label} {part!r} must match {_PART_RE.pattern}")
    ulid = ulid or new_ulid()
    if not _ULID_RE.fullmatch(ulid):
        raise ValueError(f"{ulid!r} is not a ULID")
    return f"{CID_PREFIX}:{project}:{environment}:{kind}:{ulid}"


def parse_cid(cid: str) -> dict[str, str] | None:
    """The parts of a well-formed CID (project, environment, kind, ulid), else None."""
    match = _CID_RE.fullmatch(cid) if isinstance(cid, str) else None
    return match.groupdict() if match else None


def ulid8(ulid: str | None = None) -> str:
    """Eight characters of a ULID (a fresh one unless given), for ``<slug>__<ULID8>``.

    The last eight are taken: they are random bits. The first eight encode the
    millisecond clock at a 256 ms resolution, so two folders made in the same
    quarter second would share them.
    """
    return (ulid or new_ulid())[-ULID8_LENGTH:]


def slugify_name(text: str, *, max_length: int = SLUG_MAX_LENGTH) -> str:
    """Lower-case ASCII words joined by ``-``: ``"User Auth (v2)"`` -> ``"user-auth-v2"``.

    Accents are folded (``"Café"`` -> ``"cafe"``); anything else that is not a
    letter or digit separates words. May return "" (nothing usable in the text);
    callers decide whether that is an error.
    """
    folded = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = _NON_ALNUM.sub("-", folded.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    return slug


def directory_name(slug: str, ulid: str | None = None) -> str:
    """``<slug>__<ULID8>``: a capability folder's name."""
    return f"{slug}__{ulid8(ulid)}"
