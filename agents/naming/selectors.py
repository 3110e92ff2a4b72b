"""Reads of the naming agent's data (sync ORM; run in worker threads)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.naming.conf import NamingSettings
from agents.naming.models import Capability, Namespace, Session

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def naming_settings() -> NamingSettings:
    """The configuration stored in AgentType "naming" (defaults when there is none)."""
    from agents.models import AgentType

    config = AgentType.objects.filter(name="naming").values_list("config", flat=True).first()
    return NamingSettings.from_config(config)


def iso(value: Any) -> str | None:
    """A stored datetime as ISO-8601 UTC with a Z, the form every answer uses."""
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def namespace_answer(ns: Namespace) -> dict[str, Any]:
    """What an allocation (first or replayed) and a listing say about a namespace."""
    return {
        "namespace": ns.name,
        "cid": ns.cid,
        "project": ns.project,
        "environment": ns.environment,
        "sequence": ns.sequence,
        "description": ns.description,
        "created_at": iso(ns.created_at),
    }


def capability_answer(cap: Capability) -> dict[str, Any]:
    return {
        "capability_id": cap.capability_id,
        "cid": cap.cid,
        "domain": cap.domain,
        "sequence": cap.sequence,
        "name": cap.name,
        "slug": cap.slug,
        "directory": cap.directory,
        "project": cap.project,
        "environment": cap.environment,
        "purpose": cap.purpose,
        "template": cap.template,
        "scaffold": cap.scaffold,
        "path": cap.path or None,
        "created_at": iso(cap.created_at),
    }


def session_answer(session: Session) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "cid": session.cid,
        "project": session.project,
        "environment": session.environment,
        "ttl_s": session.ttl_s,
        "expires_at": iso(session.expires_at),
        "metadata": session.metadata,
        "created_at": iso(session.created_at),
    }


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        end = self.offset + len(self.items)
        return end if end < self.total else None

    def as_dict(self, key: str) -> dict[str, Any]:
        return {
            key: self.items,
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": self.next_offset,
        }


def namespace_list(
    *,
    project: str | None = None,
    environment: str | None = None,
    prefix: str | None = None,
    limit: int = DEFAULT_PAGE_SIZE,
    offset: int = 0,
) -> Page:
    """Namespaces in allocation order, filtered, one page of them."""
    qs = Namespace.objects.all()
    if project:
        qs = qs.filter(project=project)
    if environment:
        qs = qs.filter(environment=environment)
    if prefix:
        qs = qs.filter(name__startswith=prefix)
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    offset = max(0, offset)
    rows = list(qs.order_by("id")[offset : offset + limit])
    return Page(items=[namespace_answer(ns) for ns in rows], total=qs.count(), limit=limit, offset=offset)


def capability_get_by_key(*, key: str) -> Capability | None:
    """The capability allocated under a stored idempotency key (see services.idempotency_key_for)."""
    return Capability.objects.filter(idempotency_key=key).first()


def name_exists(*, kind: str, name: str) -> bool | None:
    """Whether a name of this kind is taken; None for kinds that are not stored."""
    lookups: dict[str, Any] = {
        "namespace": lambda: Namespace.objects.filter(name=name),
        "capability": lambda: Capability.objects.filter(capability_id=name),
        "directory": lambda: Capability.objects.filter(directory=name),
        "session": lambda: Session.objects.filter(session_id=name),
        "cid": lambda: _cid_querysets(name),
    }
    query = lookups.get(kind)
    if query is None:
        return None
    result = query()
    if isinstance(result, list):
        return any(qs.exists() for qs in result)
    return result.exists()


def _cid_querysets(cid: str) -> list[Any]:
    return [Namespace.objects.filter(cid=cid), Capability.objects.filter(cid=cid), Session.objects.filter(cid=cid)]
