"""The naming rules, as pure functions. No Django import, no database.

Every checker returns a list of problems (human-readable sentences); an empty
list means the name is valid. The agent's ``validate_name`` action answers
with these lists, and the services refuse a name whose list is not empty, so
what validate_name accepts is exactly what an allocation accepts.

Why these rules: ``.`` separates namespace segments and ``:`` separates CID
parts, so neither may occur inside a part; ``-`` separates the parts of a
capability id, so a domain may not contain one; ``__`` separates a folder's
slug from its ULID, so a slug uses single ``-`` only.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from agents.naming.cid import SLUG_MAX_LENGTH, parse_cid, slugify_name

DEFAULT_ENVIRONMENTS: tuple[str, ...] = ("dev", "test", "prod")
DEFAULT_PROJECT = "centerfire"

LABEL_MAX_LENGTH = 40
SEGMENT_MAX_LENGTH = 63
NAMESPACE_MAX_LENGTH = 200
NAMESPACE_MAX_SEGMENTS = 8
DOMAIN_MAX_LENGTH = 24

_LABEL_RE = re.compile(r"[a-z](?:[a-z0-9_-]*[a-z0-9])?")
_DOMAIN_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CAPABILITY_RE = re.compile(r"CAP-(?P<domain>[A-Z][A-Z0-9_]*)-(?P<seq>[1-9][0-9]*)")
_DIRECTORY_RE = re.compile(r"(?P<slug>.+)__(?P<ulid8>[0-9A-HJKMNP-TV-Z]{8})")
_SESSION_RE = re.compile(r"ses_[0-9A-HJKMNP-TV-Z]{26}")
# ns<N> labels belong to the sequence: an explicit name may not take one, or
# a later sequenced allocation would find its name taken (a gap or a failure).
SEQUENCED_LABEL_RE = re.compile(r"ns[0-9]+")


def _label_problems(what: str, value: str, max_length: int = LABEL_MAX_LENGTH) -> list[str]:
    if not value:
        return [f"{what} is empty"]
    problems = []
    if len(value) > max_length:
        problems.append(f"{what} is longer than {max_length} characters")
    if value != value.lower():
        problems.append(f"{what} must be lower case")
    if not _LABEL_RE.fullmatch(value.lower()):
        problems.append(
            f"{what} must start with a letter, end with a letter or digit, and contain only a-z, 0-9, '-' and '_'"
        )
    return problems


def project_problems(project: str) -> list[str]:
    return _label_problems(f"project {project!r}", project)


def environment_problems(environment: str, allowed: Collection[str] = DEFAULT_ENVIRONMENTS) -> list[str]:
    problems = _label_problems(f"environment {environment!r}", environment)
    if not problems and environment not in allowed:
        problems.append(f"environment {environment!r} is not one of {sorted(allowed)}")
    return problems


def namespace_problems(namespace: str, allowed_environments: Collection[str] = DEFAULT_ENVIRONMENTS) -> list[str]:
    """``<project>.<environment>.<label>[.<label>...]``, each segment a label."""
    if not namespace:
        return ["namespace is empty"]
    if len(namespace) > NAMESPACE_MAX_LENGTH:
        return [f"namespace is longer than {NAMESPACE_MAX_LENGTH} characters"]
    segments = namespace.split(".")
    if len(segments) < 3:
        return [f"namespace {namespace!r} must have the form <project>.<environment>.<name>"]
    if len(segments) > NAMESPACE_MAX_SEGMENTS:
        return [f"namespace has more than {NAMESPACE_MAX_SEGMENTS} segments"]
    problems = project_problems(segments[0])
    problems += environment_problems(segments[1], allowed_environments)
    for position, segment in enumerate(segments[2:], start=3):
        problems += _label_problems(f"segment {position} ({segment!r})", segment, SEGMENT_MAX_LENGTH)
    return problems


def is_sequenced_namespace(namespace: str) -> bool:
    """True for ``<project>.<environment>.ns<N>``, the names the sequence hands out."""
    segments = namespace.split(".")
    return len(segments) == 3 and bool(SEQUENCED_LABEL_RE.fullmatch(segments[2]))


def normalize_domain(domain: str) -> str:
    """Domains are written in capitals in capability ids; accept any case."""
    return domain.strip().upper()


def domain_problems(domain: str) -> list[str]:
    if not domain:
        return ["domain is empty"]
    problems = []
    if len(domain) > DOMAIN_MAX_LENGTH:
        problems.append(f"domain is longer than {DOMAIN_MAX_LENGTH} characters")
    if not _DOMAIN_RE.fullmatch(normalize_domain(domain)):
        problems.append(f"domain {domain!r} must start with a letter and contain only letters, digits and '_'")
    return problems


def capability_id_problems(capability_id: str) -> list[str]:
    match = _CAPABILITY_RE.fullmatch(capability_id or "")
    if not match:
        return [
            f"capability id {capability_id!r} must have the form CAP-<DOMAIN>-<N> "
            f"(DOMAIN in capitals, N a positive number without leading zeros)"
        ]
    return domain_problems(match.group("domain"))


def slug_problems(slug: str) -> list[str]:
    if not slug:
        return ["slug is empty"]
    problems = []
    if len(slug) > SLUG_MAX_LENGTH:
        problems.append(f"slug is longer than {SLUG_MAX_LENGTH} characters")
    if not _SLUG_RE.fullmatch(slug):
        problems.append(
            f"slug {slug!r} must be lower-case letters and digits in words joined by single '-'"
            f" (suggestion: {slugify_name(slug)!r})"
        )
    return problems


def directory_problems(directory: str) -> list[str]:
    match = _DIRECTORY_RE.fullmatch(directory or "")
    if not match:
        return [f"directory {directory!r} must have the form <slug>__<ULID8>"]
    return slug_problems(match.group("slug"))


def session_id_problems(session_id: str) -> list[str]:
    if not _SESSION_RE.fullmatch(session_id or ""):
        return [f"session id {session_id!r} must have the form ses_<ULID>"]
    return []


def cid_problems(cid: str, allowed_environments: Collection[str] = DEFAULT_ENVIRONMENTS) -> list[str]:
    parts = parse_cid(cid)
    if parts is None:
        return [f"CID {cid!r} must have the form cid:<project>:<environment>:<kind>:<ULID>"]
    return project_problems(parts["project"]) + environment_problems(parts["environment"], allowed_environments)


# kind -> checker(name, allowed_environments) for validate_name.
NAME_KINDS = {
    "namespace": lambda name, envs: namespace_problems(name, envs),
    "capability": lambda name, envs: capability_id_problems(name),
    "domain": lambda name, envs: domain_problems(name),
    "slug": lambda name, envs: slug_problems(name),
    "directory": lambda name, envs: directory_problems(name),
    "project": lambda name, envs: project_problems(name),
    "environment": lambda name, envs: environment_problems(name, envs),
    "session": lambda name, envs: session_id_problems(name),
    "cid": lambda name, envs: cid_problems(name, envs),
}


def name_problems(kind: str, name: str, allowed_environments: Collection[str] = DEFAULT_ENVIRONMENTS) -> list[str]:
    """Problems of ``name`` read as a ``kind`` (one of NAME_KINDS); KeyError for an unknown kind."""
    return NAME_KINDS[kind](name, allowed_environments)
