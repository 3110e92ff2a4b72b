"""Writes of the semantic agent: store and delete concepts.

Every change bumps the corpus version under the CorpusState row's lock and
logs itself under that version, in the same transaction as the change, so
versions commit in order and an index that has seen version N knows exactly
which changes it is missing (see index.py).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import orjson
from django.db import IntegrityError, transaction
from django.db.models import F

from agents.naming.cid import make_cid
from agents.protocol import ErrorCode, ProtocolError
from agents.semantic.conf import SemanticSettings
from agents.semantic.models import Concept, ConceptChange, CorpusState
from agents.semantic.selectors import concept_to_dict

MAX_NAME = 200
DOMAIN_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
# Changes kept in the log: an instance further behind than this reloads instead.
CHANGE_LOG_KEEP = 20_000
_PRUNE_EVERY = 1_000


def _invalid(message: str, field: str, **details: Any) -> ProtocolError:
    return ProtocolError(ErrorCode.VALIDATION_ERROR, message, {"field": field, **details})


def validate_domain(domain: object) -> str:
    if not isinstance(domain, str) or not DOMAIN_RE.match(domain):
        raise _invalid(
            "'domain' must be 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit", "domain"
        )
    return domain


def _validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _invalid("'name' must be a non-empty string", "name")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise _invalid(f"'name' is longer than {MAX_NAME} characters", "name", max_length=MAX_NAME)
    if not name.isprintable():
        raise _invalid("'name' must contain printable characters only (no NUL or control characters)", "name")
    return name


def _validate_description(description: object, limit: int) -> str:
    if not isinstance(description, str):
        raise _invalid("'description' must be a string", "description")
    if len(description) > limit:
        raise _invalid(
            f"'description' is longer than {limit} characters ({len(description)})", "description", max_length=limit
        )
    if "\x00" in description:
        raise _invalid("'description' must not contain NUL bytes", "description")
    return description


def _validate_metadata(metadata: object, limit: int) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise _invalid("'metadata' must be a JSON object", "metadata")
    size = len(orjson.dumps(metadata))
    if size > limit:
        raise _invalid(f"'metadata' is larger than {limit} bytes as JSON ({size})", "metadata", max_bytes=limit)
    return metadata


def _bump_version(count: int = 1) -> int:
    """Take the next ``count`` corpus versions; returns the last one.

    Must run inside the caller's transaction: the UPDATE holds the state row's
    lock until commit, so writers take versions (and commit them) in order.
    """
    if not CorpusState.objects.filter(pk=1).update(version=F("version") + count):
        try:
            with transaction.atomic():
                CorpusState.objects.create(pk=1, epoch=uuid.uuid4().hex, version=0)
        except IntegrityError:
            pass  # another writer created it first
        CorpusState.objects.filter(pk=1).update(version=F("version") + count)
    version = CorpusState.objects.filter(pk=1).values_list("version", flat=True).get()
    if version // _PRUNE_EVERY != (version - count) // _PRUNE_EVERY:  # crossed a multiple: prune now and then
        ConceptChange.objects.filter(version__lte=version - CHANGE_LOG_KEEP).delete()
    return version


def concept_store(
    *, name: str, domain: str, description: str = "", metadata: dict[str, Any] | None = None, settings: SemanticSettings
) -> dict[str, Any]:
    """Store a new concept with a fresh CID; NAMESPACE_COLLISION if its name exists in the domain."""
    name = _validate_name(name)
    domain = validate_domain(domain)
    description = _validate_description(description, settings.max_description)
    metadata = _validate_metadata(metadata, settings.max_metadata_bytes)
    cid = make_cid(project=settings.default_project, environment=settings.default_environment, kind="concept")
    try:
        with transaction.atomic():
            version = _bump_version()
            concept = Concept.objects.create(
                cid=cid, name=name, name_key=name.casefold(), domain=domain, description=description, metadata=metadata
            )
            ConceptChange.objects.create(version=version, concept_id=concept.id, op=ConceptChange.Op.ADD)
    except IntegrityError:
        existing = Concept.objects.filter(domain=domain, name_key=name.casefold()).first()
        if existing is None:
            raise
        raise ProtocolError(
            ErrorCode.NAMESPACE_COLLISION,
            f"A concept named '{existing.name}' already exists in domain '{domain}'",
            {"existing_cid": existing.cid, "existing_name": existing.name, "domain": domain},
        ) from None
    return {**concept_to_dict(concept), "corpus_version": version}


def concept_store_many(*, items: list[dict[str, Any]], settings: SemanticSettings) -> dict[str, Any]:
    """Store several concepts in one transaction: all of them, or none (first problem reported).

    Versions are taken as one block under the corpus lock, one per concept,
    so indexes catch up exactly as if they had been stored one by one.
    """
    if not items:
        return {"concepts": [], "count": 0}
    rows = []
    for position, item in enumerate(items):
        if not isinstance(item, dict):
            raise _invalid("every item must be an object", "concepts", index=position)
        try:
            rows.append(
                Concept(
                    cid=make_cid(
                        project=settings.default_project, environment=settings.default_environment, kind="concept"
                    ),
                    name=(name := _validate_name(item.get("name"))),
                    name_key=name.casefold(),
                    domain=validate_domain(item.get("domain")),
                    description=_validate_description(item.get("description", "") or "", settings.max_description),
                    metadata=_validate_metadata(item.get("metadata"), settings.max_metadata_bytes),
                )
            )
        except ProtocolError as exc:
            exc.details["index"] = position
            raise
    keys = [(r.domain, r.name_key) for r in rows]
    if len(set(keys)) != len(keys):
        raise _invalid("two items have the same name in the same domain", "concepts")
    try:
        with transaction.atomic():
            last = _bump_version(len(rows))
            created = Concept.objects.bulk_create(rows)
            ConceptChange.objects.bulk_create(
                ConceptChange(version=last - len(rows) + 1 + i, concept_id=c.pk, op=ConceptChange.Op.ADD)
                for i, c in enumerate(created)
            )
    except IntegrityError:
        taken = [f"{d}/{n}" for d, n in keys if Concept.objects.filter(domain=d, name_key=n).exists()]
        raise ProtocolError(
            ErrorCode.NAMESPACE_COLLISION, "Some names already exist in their domain", {"existing": taken[:50]}
        ) from None
    return {"concepts": [concept_to_dict(c) for c in created], "count": len(created), "corpus_version": last}


def concept_delete(*, cid: str) -> dict[str, Any]:
    if not isinstance(cid, str) or not cid:
        raise _invalid("'cid' is required", "cid")
    with transaction.atomic():
        concept = Concept.objects.filter(cid=cid).first()
        if concept is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "No concept has this CID", {"cid": cid})
        version = _bump_version()  # takes the corpus lock: deletes of one cid serialise here
        if not Concept.objects.filter(pk=concept.pk).delete()[0]:
            raise ProtocolError(ErrorCode.NOT_FOUND, "No concept has this CID", {"cid": cid})
        ConceptChange.objects.create(version=version, concept_id=concept.pk, op=ConceptChange.Op.DELETE)
    return {"deleted": True, "cid": cid, "name": concept.name, "domain": concept.domain, "corpus_version": version}
