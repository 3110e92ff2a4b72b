"""Writes of the naming agent: allocations. Sync ORM; run them in worker threads.

Each allocation is one short transaction. Its sequence number comes from a
conditional ``UPDATE ... SET last_value = last_value + 1`` on a counter row:
the UPDATE holds the row's write lock until commit (PostgreSQL row lock,
SQLite's database write lock), so concurrent allocators queue on it and each
reads back its own number; if anything later in the transaction fails, the
increment rolls back with it, so the sequence has no gaps.

Idempotency: the request's idempotency key (or its request id when it has
none) is stored on the allocated row under a unique constraint. A repeat finds
the row and answers with it; two duplicates racing both try to insert, the
database lets exactly one win, and the loser (its transaction, sequence number
included, rolled back) answers with the winner's row.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, TypeVar

import orjson
from django.db import IntegrityError, models, transaction
from django.db.models import F
from django.utils import timezone

from agents.naming import cid as cids
from agents.naming import validation
from agents.naming.conf import NamingSettings
from agents.naming.models import KEY_MAX_LENGTH, Capability, Namespace, SequenceCounter, Session
from agents.naming.selectors import capability_answer, namespace_answer, naming_settings, session_answer
from agents.protocol import ErrorCode, ProtocolError

M = TypeVar("M", bound=models.Model)

SESSION_MAX_TTL_S = 30 * 24 * 3600
MIN_REQUEST_ID_KEY_LENGTH = 16
SESSION_METADATA_MAX_BYTES = 8192


@dataclass(frozen=True)
class Allocation(Generic[M]):
    """An allocated row and whether it was replayed for a repeated key."""

    obj: M
    replayed: bool


# --- idempotency keys --------------------------------------------------------------


def idempotency_key_for(*, idempotency_key: str | None, request_id: Any = None) -> str | None:
    """The key stored for a request: its explicit key, else its request id, else None.

    A request id serves as a key only when it is a string of at least
    MIN_REQUEST_ID_KEY_LENGTH characters (a UUID, a ULID, protocol.new_request_id()).
    Integers and short strings are counters: the orchestrator hands agents
    internal ids 1, 2, 3... that start again after it restarts, and a client's
    ``"id": "1"`` is reused on every connection, so taking them as keys would
    answer a new request with an old allocation.

    Prefixed by origin so an explicit key never matches a request id of the
    same text; hashed when too long for the column.
    """
    if idempotency_key:
        stored = f"key:{idempotency_key}"
    elif isinstance(request_id, str) and len(request_id) >= MIN_REQUEST_ID_KEY_LENGTH:
        stored = f"id:{request_id}"
    else:
        return None
    if len(stored) > KEY_MAX_LENGTH:
        stored = f"{stored[:3]}sha256:{hashlib.sha256(stored.encode()).hexdigest()}"
    return stored


def request_hash(params: dict[str, Any]) -> str:
    """A stable digest of the parameters that shape an allocation."""
    return hashlib.sha256(orjson.dumps(params, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


def _replay(model: type[M], key: str, digest: str, answer: Callable[[M], dict[str, Any]]) -> M | None:
    existing = model.objects.filter(idempotency_key=key).first()  # type: ignore[attr-defined]  # (M: a naming model)
    if existing is not None and existing.request_hash and existing.request_hash != digest:
        raise ProtocolError(
            ErrorCode.CONFLICT,
            "This idempotency key was already used for a different request",
            {"idempotency_key": key.split(":", 1)[1], "existing": answer(existing)},
        )
    return existing


def _allocate(
    model: type[M],
    *,
    key: str | None,
    digest: str,
    answer: Callable[[M], dict[str, Any]],
    create: Callable[[], M],
    on_integrity_error: Callable[[], None] | None = None,
) -> Allocation[M]:
    """Run ``create`` in one transaction unless ``key`` was seen; answer duplicates with the first row.

    Optimistic: no look-up of the key first (an ORM query costs about as much
    as the allocation's own statements). A repeated key fails the INSERT on its
    unique constraint, the transaction rolls back with its counter bump (no
    gap), and the first row is answered; retries are rare, first calls are not.
    """
    try:
        with _sqlite_writer_turn(), transaction.atomic():
            return Allocation(create(), replayed=False)
    except IntegrityError:
        # Lost a race. On a duplicate key the winner's row is committed by now
        # (PostgreSQL made our INSERT wait for it; SQLite serialised us).
        if key and (existing := _replay(model, key, digest, answer)) is not None:
            return Allocation(existing, replayed=True)
        if on_integrity_error is not None:
            on_integrity_error()
        raise


# SQLite has one writer at a time. Threads of one process that all BEGIN
# IMMEDIATE would wait in SQLite's busy handler, which sleeps and polls (up to
# 100 ms a turn, in no order), so a few unlucky threads wait very long. Queuing
# them on a lock first keeps the busy handler for other processes only.
_SQLITE_WRITER = threading.Lock()


@contextmanager
def _sqlite_writer_turn() -> Iterator[None]:
    if transaction.get_connection().vendor != "sqlite":
        yield
        return
    with _SQLITE_WRITER:
        yield


def _next_in_sequence(scope: str, now: Any) -> int:
    """Bump and return the counter of ``scope``. Call inside transaction.atomic()."""
    value = _bump_counter(scope, now)
    if value is None:
        try:
            with transaction.atomic():  # savepoint: a racing creator may win
                SequenceCounter.objects.create(scope=scope, last_value=0, updated_at=now)
        except IntegrityError:
            pass
        value = _bump_counter(scope, now)
        if value is None:
            raise RuntimeError(f"sequence counter {scope!r} vanished")
    return value


def _bump_counter(scope: str, now: Any) -> int | None:
    """``last_value + 1`` on the scope's row and the new value, or None when there is no row."""
    conn = transaction.get_connection()
    if conn.vendor in ("sqlite", "postgresql"):
        # One statement instead of UPDATE + SELECT, and without the ORM's query
        # building, which costs several times the statement itself here.
        table = conn.ops.quote_name(SequenceCounter._meta.db_table)
        with conn.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET last_value = last_value + 1, updated_at = %s "
                f"WHERE scope = %s RETURNING last_value",
                [conn.ops.adapt_datetimefield_value(now), scope],
            )
            row = cursor.fetchone()
        return None if row is None else int(row[0])
    counters = SequenceCounter.objects.filter(scope=scope)
    if not counters.update(last_value=F("last_value") + 1, updated_at=now):
        return None
    return counters.values_list("last_value", flat=True).get()


def _require_valid(problems: list[str], field: str) -> None:
    if problems:
        raise ProtocolError(ErrorCode.VALIDATION_ERROR, "; ".join(problems), {"field": field, "problems": problems})


def _resolve_scope(settings: NamingSettings, project: str | None, environment: str | None) -> tuple[str, str]:
    project = project or settings.default_project
    environment = environment or settings.default_environment
    _require_valid(validation.project_problems(project), "project")
    _require_valid(validation.environment_problems(environment, settings.environments), "environment")
    return project, environment


# --- namespaces ---------------------------------------------------------------------


def namespace_allocate(
    *,
    environment: str,
    project: str | None = None,
    namespace: str | None = None,
    description: str = "",
    idempotency_key: str | None = None,
    interface: str = "",
    allocated_by: str = "",
    settings: NamingSettings | None = None,
) -> Allocation[Namespace]:
    """Allocate ``<project>.<environment>.ns<N>`` (next N), or the explicit ``namespace``.

    ``idempotency_key`` is the stored form (see idempotency_key_for). Raises
    ProtocolError: VALIDATION_ERROR, NAMESPACE_COLLISION (explicit name taken),
    CONFLICT (key reused for different parameters).
    """
    settings = settings or naming_settings()
    if not environment:
        raise ProtocolError(ErrorCode.VALIDATION_ERROR, "'environment' is required", {"field": "environment"})
    project, environment = _resolve_scope(settings, project, environment)
    if namespace is not None:
        _check_explicit_namespace(namespace, project, environment, settings)
    digest = request_hash(
        {"project": project, "environment": environment, "namespace": namespace, "description": description}
    )

    def create() -> Namespace:
        now = timezone.now()
        if namespace is not None:
            _raise_if_namespace_exists(namespace)
            name, sequence = namespace, None
        else:
            sequence = _next_in_sequence(f"namespace:{project}.{environment}", now)
            name = f"{project}.{environment}.ns{sequence}"
        return Namespace.objects.create(
            name=name,
            project=project,
            environment=environment,
            sequence=sequence,
            cid=cids.make_cid(project=project, environment=environment, kind="namespace"),
            description=description,
            idempotency_key=idempotency_key,
            request_hash=digest,
            interface=interface or "",
            allocated_by=allocated_by,
            created_at=now,
        )

    on_conflict = (lambda: _raise_if_namespace_exists(namespace)) if namespace is not None else None
    return _allocate(
        Namespace,
        key=idempotency_key,
        digest=digest,
        answer=namespace_answer,
        create=create,
        on_integrity_error=on_conflict,
    )


def _check_explicit_namespace(namespace: str, project: str, environment: str, settings: NamingSettings) -> None:
    _require_valid(validation.namespace_problems(namespace, settings.environments), "namespace")
    head = f"{project}.{environment}."
    if not namespace.startswith(head):
        raise ProtocolError(
            ErrorCode.VALIDATION_ERROR,
            f"namespace {namespace!r} must start with {head!r} (its project and environment)",
            {"field": "namespace"},
        )
    if validation.is_sequenced_namespace(namespace):
        # An existing one is still a collision (the caller asked for a taken name).
        _raise_if_namespace_exists(namespace)
        raise ProtocolError(
            ErrorCode.VALIDATION_ERROR,
            f"namespace {namespace!r}: names ns<N> are handed out by the sequence; "
            f"omit 'namespace' to get the next one",
            {"field": "namespace"},
        )


def _raise_if_namespace_exists(name: str) -> None:
    existing = Namespace.objects.filter(name=name).first()
    if existing is not None:
        raise ProtocolError(
            ErrorCode.NAMESPACE_COLLISION,
            f"Namespace {name!r} already exists",
            {
                "existing_namespace": existing.name,
                "cid": existing.cid,
                "created_at": namespace_answer(existing)["created_at"],
            },
        )


# --- capabilities ---------------------------------------------------------------------


def capability_allocate(
    *,
    domain: str,
    name: str,
    slug: str | None = None,
    purpose: str = "",
    template: str = "",
    scaffold: bool = False,
    project: str | None = None,
    environment: str | None = None,
    idempotency_key: str | None = None,
    interface: str = "",
    allocated_by: str = "",
    settings: NamingSettings | None = None,
) -> Allocation[Capability]:
    """Allocate ``CAP-<DOMAIN>-<N>`` (next N in the domain), its CID and folder name ``<slug>__<ULID8>``."""
    settings = settings or naming_settings()
    project, environment = _resolve_scope(settings, project, environment)
    _require_valid(validation.domain_problems(domain), "domain")
    domain = validation.normalize_domain(domain)
    if not name or not name.strip():
        raise ProtocolError(ErrorCode.VALIDATION_ERROR, "'name' is required", {"field": "name"})
    if slug is None:
        slug = cids.slugify_name(name)
        if not slug:
            raise ProtocolError(
                ErrorCode.VALIDATION_ERROR,
                f"name {name!r} has no letters or digits to make a slug; give 'slug'",
                {"field": "name"},
            )
    _require_valid(validation.slug_problems(slug), "slug")
    digest = request_hash(
        {
            "domain": domain,
            "name": name,
            "slug": slug,
            "purpose": purpose,
            "template": template,
            "scaffold": scaffold,
            "project": project,
            "environment": environment,
        }
    )

    def create() -> Capability:
        now = timezone.now()
        sequence = _next_in_sequence(f"capability:{domain}", now)
        ulid = cids.new_ulid()
        return Capability.objects.create(
            capability_id=f"CAP-{domain}-{sequence}",
            domain=domain,
            sequence=sequence,
            name=name.strip(),
            slug=slug,
            directory=cids.directory_name(slug, ulid),
            project=project,
            environment=environment,
            cid=cids.make_cid(project=project, environment=environment, kind="capability", ulid=ulid),
            purpose=purpose,
            template=template,
            scaffold=scaffold,
            idempotency_key=idempotency_key,
            request_hash=digest,
            interface=interface or "",
            allocated_by=allocated_by,
            created_at=now,
        )

    return _allocate(Capability, key=idempotency_key, digest=digest, answer=capability_answer, create=create)


def capability_record_path(*, capability_id: str, path: str) -> Capability:
    """Remember the folder struct made. The first recorded path stays (a conditional UPDATE)."""
    Capability.objects.filter(capability_id=capability_id, path="").update(path=path)
    return Capability.objects.get(capability_id=capability_id)


# --- sessions -----------------------------------------------------------------------------


def session_allocate(
    *,
    project: str | None = None,
    environment: str | None = None,
    ttl_s: int | None = None,
    metadata: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    interface: str = "",
    allocated_by: str = "",
    settings: NamingSettings | None = None,
) -> Allocation[Session]:
    """Allocate a session id ``ses_<ULID>`` and its CID, optionally expiring after ``ttl_s`` seconds."""
    settings = settings or naming_settings()
    project, environment = _resolve_scope(settings, project, environment)
    if ttl_s is not None and not (1 <= ttl_s <= SESSION_MAX_TTL_S):
        raise ProtocolError(
            ErrorCode.VALIDATION_ERROR, f"'ttl_s' must be between 1 and {SESSION_MAX_TTL_S}", {"field": "ttl_s"}
        )
    metadata = metadata or {}
    if len(orjson.dumps(metadata, default=str)) > SESSION_METADATA_MAX_BYTES:
        raise ProtocolError(
            ErrorCode.VALIDATION_ERROR,
            f"'metadata' is larger than {SESSION_METADATA_MAX_BYTES} bytes as JSON",
            {"field": "metadata"},
        )
    digest = request_hash({"project": project, "environment": environment, "ttl_s": ttl_s, "metadata": metadata})

    def create() -> Session:
        now = timezone.now()
        ulid = cids.new_ulid()
        return Session.objects.create(
            session_id=f"ses_{ulid}",
            project=project,
            environment=environment,
            cid=cids.make_cid(project=project, environment=environment, kind="session", ulid=ulid),
            metadata=metadata,
            ttl_s=ttl_s,
            expires_at=now + timedelta(seconds=ttl_s) if ttl_s else None,
            idempotency_key=idempotency_key,
            request_hash=digest,
            interface=interface or "",
            allocated_by=allocated_by,
            created_at=now,
        )

    return _allocate(Session, key=idempotency_key, digest=digest, answer=session_answer, create=create)
