"""Query filters of the read-only REST lists: exact fields and a since/until time range.

One implementation for every list (namespaces, ledger, route logs), and the
schema parameters that document it, so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

TIME_FORMAT = "an ISO-8601 time with a zone, e.g. 2026-01-31T00:00:00Z"


def time_param(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    value = parse_datetime(raw)
    if value is None or value.tzinfo is None:
        raise ValidationError({name: TIME_FORMAT})
    return value


def filter_list(qs: QuerySet, request: Request, *, time_field: str, exact: dict[str, str]) -> QuerySet:
    """``qs`` narrowed by ``since`` (inclusive), ``until`` (exclusive) and the exact ``param -> field`` filters."""
    since, until = time_param(request, "since"), time_param(request, "until")
    if since:
        qs = qs.filter(**{f"{time_field}__gte": since})
    if until:
        qs = qs.filter(**{f"{time_field}__lt": until})
    for param, field in exact.items():
        value = request.query_params.get(param)
        if value:
            qs = qs.filter(**{field: value})
    return qs


# A time, or empty (no filter), as time_param reads it.
_TIME_OR_EMPTY = {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "string", "enum": [""]}]}


def filter_parameters(*, what: str, exact: dict[str, str]) -> list[OpenApiParameter]:
    """The schema's description of ``filter_list``'s parameters; ``what`` names the time (e.g. "Created")."""
    params = [
        OpenApiParameter(
            "since", _TIME_OR_EMPTY, description=f"{what} at or after this time: {TIME_FORMAT}; empty: no filter"
        ),
        OpenApiParameter(
            "until", _TIME_OR_EMPTY, description=f"{what} before this time: {TIME_FORMAT}; empty: no filter"
        ),
    ]
    params += [
        OpenApiParameter(param, OpenApiTypes.STR, description=f"Exact {param.replace('_', ' ')}; empty: no filter")
        for param in exact
    ]
    return params
