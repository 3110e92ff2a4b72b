"""Reads of the semantic agent: filtered pages of concepts and similarity search."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from agents.protocol import ErrorCode, ProtocolError
from agents.semantic import similarity
from agents.semantic.conf import SemanticSettings
from agents.semantic.index import index_cache
from agents.semantic.models import Concept

MAX_OFFSET = 100_000


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def concept_to_dict(concept: Concept) -> dict[str, Any]:
    return {
        "cid": concept.cid,
        "name": concept.name,
        "domain": concept.domain,
        "description": concept.description,
        "metadata": concept.metadata,
        "created": _iso(concept.created_at),
    }


def _invalid(message: str, field: str) -> ProtocolError:
    return ProtocolError(ErrorCode.VALIDATION_ERROR, message, {"field": field})


def _parse_time(value: str | None, field: str) -> dt.datetime | None:
    if value is None:
        return None
    parsed = None
    try:
        parsed = parse_datetime(value.replace("Z", "+00:00") if value.endswith("Z") else value)
        if parsed is None:
            day = dt.date.fromisoformat(value)
            parsed = dt.datetime(day.year, day.month, day.day)
    except ValueError:
        parsed = None
    if parsed is None:
        raise _invalid(f"'{field}' must be an ISO 8601 date or date-time", field)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _encode_cursor(concept: Concept) -> str:
    raw = orjson.dumps([concept.created_at.isoformat(), concept.pk])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, pk = orjson.loads(raw)
        when = dt.datetime.fromisoformat(created)
        if not isinstance(pk, int) or when.tzinfo is None:
            raise ValueError
        return when, pk
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise _invalid("'cursor' is not a cursor this agent returned", "cursor") from None


def concept_get(*, cid: str) -> dict[str, Any]:
    concept = Concept.objects.filter(cid=cid).first()
    if concept is None:
        raise ProtocolError(ErrorCode.NOT_FOUND, "No concept has this CID", {"cid": cid})
    return concept_to_dict(concept)


def concept_query(
    *,
    domain: str | None = None,
    name_prefix: str | None = None,
    created_after: str | None = None,
    created_before: str | None = None,
    limit: int = 50,
    offset: int = 0,
    cursor: str | None = None,
    settings: SemanticSettings,
) -> dict[str, Any]:
    """Concepts oldest first, filtered; paged by ``offset`` or by the opaque ``cursor`` of the previous page.

    The cursor (keyset on created time, then id) stays correct while concepts
    are added or deleted between pages; an offset may skip or repeat one then.
    """
    if limit > settings.max_page:
        raise _invalid(f"'limit' must be at most {settings.max_page}", "limit")
    if offset > MAX_OFFSET:
        raise _invalid(f"'offset' must be at most {MAX_OFFSET}; use 'cursor' to page further", "offset")
    if cursor and offset:
        raise _invalid("Give 'cursor' or 'offset', not both", "cursor")
    qs = Concept.objects.all()
    if domain is not None:
        qs = qs.filter(domain=domain)
    if name_prefix:
        qs = qs.filter(name_key__startswith=name_prefix.casefold())
    after = _parse_time(created_after, "created_after")
    before = _parse_time(created_before, "created_before")
    if after is not None:
        qs = qs.filter(created_at__gte=after)
    if before is not None:
        qs = qs.filter(created_at__lt=before)
    total = qs.count()
    qs = qs.order_by("created_at", "id")
    if cursor:
        when, pk = _decode_cursor(cursor)
        qs = qs.filter(Q(created_at__gt=when) | Q(created_at=when, id__gt=pk))
        rows = list(qs[: limit + 1])
    else:
        rows = list(qs[offset : offset + limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "concepts": [concept_to_dict(c) for c in rows],
        "count": len(rows),
        "total": total,
        "limit": limit,
        "offset": None if cursor else offset,
        "next_cursor": _encode_cursor(rows[-1]) if more and rows else None,
    }


def concept_similar(
    *, query: str, top_k: int = 10, domain: str | None = None, min_score: float = 0.0, settings: SemanticSettings
) -> dict[str, Any]:
    """The stored concepts most similar to ``query`` (TF-IDF cosine), best first."""
    if not query.strip():
        raise _invalid("'query' must not be empty", "query")
    if len(query) > settings.max_query:
        raise _invalid(f"'query' is longer than {settings.max_query} characters", "query")
    if not 1 <= top_k <= settings.max_top_k:
        raise _invalid(f"'top_k' must be between 1 and {settings.max_top_k}", "top_k")
    snap, version = index_cache().current()
    hits = similarity.search(snap, query, top_k=top_k, domain=domain, min_score=min_score)
    # Plain values rather than model instances: this is the hot path.
    found = {
        row["id"]: row
        for row in Concept.objects.filter(id__in=[h.concept_id for h in hits]).values(
            "id", "cid", "name", "domain", "description", "metadata", "created_at"
        )
    }
    results = []
    for hit in hits:
        row = found.get(hit.concept_id)
        if row is not None:  # deleted since the snapshot: leave it out
            results.append(
                {
                    "cid": row["cid"],
                    "name": row["name"],
                    "domain": row["domain"],
                    "description": row["description"],
                    "metadata": row["metadata"],
                    "created": _iso(row["created_at"]),
                    "score": round(hit.score, 6),
                }
            )
    return {
        "query": query,
        "results": results,
        "count": len(results),
        "corpus_size": snap.size,
        "corpus_version": version,
    }
