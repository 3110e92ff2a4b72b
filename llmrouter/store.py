"""The SQL of the routing hot path: a handful of fixed statements.

``route_request`` runs five or six statements per decision. Through the ORM,
compiling them costs more than executing them (about three quarters of the
time in a profile), and even Django's cursor wrapper (placeholder rewriting,
field adapters) costs more than SQLite itself, so the hot path runs plain
parameterised SQL, built once per engine from the models' metadata, on the
DB-API cursor of Django's own connection (inside Django's transaction, with
Django's error wrapping). Values are adapted as Django adapts them, so what
is written here reads back through the ORM unchanged. Everything else
(admin, API, settlement) uses the ORM.
The rows of a batch of decisions are written with one multi-row INSERT per
table (two statements per batch instead of two per decision: on PostgreSQL
each statement is a round trip of about 0.3 ms, which made a batch of 32 cost
about 1.4 ms per decision).
Call these inside ``transaction.atomic()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
from django.db import DEFAULT_DB_ALIAS, connections

from llmrouter.models import (
    Budget,
    LedgerCheckpoint,
    LedgerEntry,
    Provider,
    RouteAttempt,
    RouteLog,
    RouterWeights,
    dollars_to_nanos,
)
from llmrouter.scoring import Weights
from llmrouter.windows import utc_now

_WEIGHT_FIELDS = tuple(Weights.__dataclass_fields__)
_ROUTE_FIELDS = (
    "decision_id",
    "created_at",
    "interface",
    "task_type",
    "priority",
    "token_count",
    "max_latency",
    "provider",
    "provider_key",
    "outcome",
    "estimated_cost_nanos",
    "cost_per_1m",
    "confidence",
    "reasoning",
    "candidates",
    "request_id",
    "attempt",
    "input_cost_per_1m",
    "output_cost_per_1m",
    "cached_input_cost_per_1m",
)
_LEDGER_FIELDS = (
    "kind",
    "amount_nanos",
    "charged_at",
    "created_at",
    "route",
    "provider",
    "provider_key",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "usage_source",
)
_ATTEMPT_FIELDS = (
    "route",
    "request_id",
    "number",
    "provider_key",
    "stream",
    "outcome",
    "status_code",
    "error",
    "ttfb_ms",
    "total_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost_nanos",
    "usage_source",
    "created_at",
)
_PROVIDER_COLUMNS = (
    "id",
    "key",
    "name",
    "cost_per_1m",
    "context_window",
    "latency_ms",
    "quality",
    "capabilities",
    "enabled",
    "health_state",
    "api_base",
    "api_format",
    "upstream_model",
    "api_key_env",
    "input_cost_per_1m",
    "output_cost_per_1m",
    "cached_input_cost_per_1m",
    "breaker_state",
    "breaker_failures",
    "breaker_until",
    "observed_ttfb_ms",
    "use_observed_latency",
)
_TABLES = {
    "route": (RouteLog, _ROUTE_FIELDS),
    "ledger": (LedgerEntry, _LEDGER_FIELDS),
    "attempt": (RouteAttempt, _ATTEMPT_FIELDS),
}
# Entries summed past the latest checkpoint before a new one is appended.
CHECKPOINT_EVERY = 256
# Rows per multi-row INSERT: 20 values a route log, well under SQLite's 32,766 variables.
MAX_ROWS_PER_INSERT = 500


class _Dialect:
    """Placeholders and value adapters of one engine, matching Django's own."""

    def __init__(self, vendor: str) -> None:
        self.sqlite = vendor == "sqlite"
        self.mark = "?" if self.sqlite else "%s"
        self._last_dt: tuple[datetime | None, str] = (None, "")

    def dt(self, value: datetime) -> Any:
        # Django stores aware datetimes in SQLite as naive UTC text (str(naive)).
        if not self.sqlite:
            return value
        # A batch writes its one clock reading into every row: convert it once. (One tuple, swapped whole:
        # another thread reading it sees a matching pair.)
        last, text = self._last_dt
        if last is not value:
            text = str(value.astimezone(UTC).replace(tzinfo=None))
            self._last_dt = (value, text)
        return text

    def decimal(self, value: Decimal | None) -> Any:
        return None if value is None else (str(value) if self.sqlite else value)

    def json(self, value: Any) -> Any:
        text = orjson.dumps(value).decode()
        if self.sqlite:
            return text
        from psycopg.types.json import Jsonb

        return Jsonb(value, dumps=lambda _obj: text)


@lru_cache(maxsize=4)
def _statements(vendor: str) -> tuple[_Dialect, dict[str, str]]:
    d = _Dialect(vendor)
    m = d.mark
    conn = connections[DEFAULT_DB_ALIAS]
    q = conn.ops.quote_name
    budget, ledger, provider = q(Budget._meta.db_table), q(LedgerEntry._meta.db_table), q(Provider._meta.db_table)
    checkpoint = q(LedgerCheckpoint._meta.db_table)
    for_update = " FOR UPDATE" if conn.features.has_select_for_update else ""
    return d, {
        "budgets": f"SELECT id, amount, period, timezone, hard_cap FROM {budget} WHERE active ORDER BY id{for_update}",
        "spend": f"SELECT COALESCE(SUM(amount_nanos), 0) FROM {ledger} WHERE charged_at >= {m} AND charged_at < {m}",
        "max_id": f"SELECT COALESCE(MAX(id), 0) FROM {ledger}",
        "checkpoint": (
            f"SELECT up_to_id, total_nanos FROM {checkpoint} WHERE window_start = {m} AND window_end = {m}"
            f" ORDER BY up_to_id DESC LIMIT 1"
        ),
        # Only the entries after the checkpoint, found by primary key: a short range scan.
        "since": (
            f"SELECT COALESCE(SUM(CASE WHEN charged_at >= {m} AND charged_at < {m} THEN amount_nanos ELSE 0 END),"
            f" 0), COUNT(*), COALESCE(MAX(id), 0) FROM {ledger} WHERE id > {m}"
        ),
        "insert_checkpoint": (
            f"INSERT INTO {checkpoint} (window_start, window_end, up_to_id, total_nanos, created_at)"
            f" VALUES ({m}, {m}, {m}, {m}, {m})"
        ),
        "providers": (
            f"SELECT {', '.join(q(c) for c in _PROVIDER_COLUMNS)} FROM {provider} ORDER BY display_order, {q('key')}"
        ),
        "weights": (
            f"SELECT {', '.join(q(f) for f in _WEIGHT_FIELDS)} FROM {q(RouterWeights._meta.db_table)} WHERE id = 1"
        ),
    }


@lru_cache(maxsize=256)
def _insert_many(vendor: str, table: str, rows: int) -> str:
    """INSERT of ``rows`` rows into the route log (returning id and decision id), the ledger or the attempts."""
    d = _Dialect(vendor)
    q = connections[DEFAULT_DB_ALIAS].ops.quote_name
    model, fields = _TABLES[table]
    # Every name is a concrete field with a column (none is a reverse relation).
    columns = ", ".join(q(model._meta.get_field(n).column) for n in fields)  # type: ignore[union-attr, arg-type]
    width = len(fields)
    if d.sqlite:
        values = ", ".join([f"({', '.join(['?'] * width)})"] * rows)
    else:
        # PostgreSQL's own $n placeholders, for a RawCursor: psycopg would otherwise parse the
        # query text on every call (it caches only queries under 4 KiB), ~2 ms for 32 rows.
        values = ", ".join(f"({', '.join(f'${r * width + i + 1}' for i in range(width))})" for r in range(rows))
    # The ids come back with the decision ids: neither engine promises RETURNING's row order.
    returning = f" RETURNING id, {q('decision_id')}" if table == "route" else ""
    return f"INSERT INTO {q(model._meta.db_table)} ({columns}) VALUES {values}{returning}"


class _Exec:
    """One DB-API cursor on Django's connection, with Django's error wrapping.

    ``_Exec(raw=True)`` gives PostgreSQL a psycopg RawCursor, for the ``$n``
    statements of ``_insert_many`` (no query parsing); SQLite's cursor as usual.
    """

    __slots__ = ("conn", "cursor", "d", "sql", "raw")

    def __init__(self, *, raw: bool = False) -> None:
        self.raw = raw

    def __enter__(self) -> _Exec:
        self.conn = connections[DEFAULT_DB_ALIAS]
        self.d, self.sql = _statements(self.conn.vendor)
        self.conn.ensure_connection()
        if self.raw and not self.d.sqlite:
            import psycopg

            self.cursor = psycopg.RawCursor(self.conn.connection)
        else:
            self.cursor = self.conn.connection.cursor()
        return self

    def run(self, name: str, params: list[Any] | tuple = ()) -> Any:
        return self.execute(self.sql[name], params)

    def execute(self, sql: str, params: list[Any] | tuple = ()) -> Any:
        with self.conn.wrap_database_errors:
            self.cursor.execute(sql, params)
        return self.cursor

    def __exit__(self, *exc: Any) -> None:
        self.cursor.close()


def _money(value: Any) -> Decimal:
    # SQLite hands a decimal column back as int or float; PostgreSQL as Decimal.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def lock_active_budgets() -> list[tuple[int, int, str, str, bool]]:
    """(id, amount in nano-dollars, period, zone, hard cap) of each active budget, rows locked."""
    with _Exec() as x:
        rows = x.run("budgets").fetchall()
    return [(pk, dollars_to_nanos(_money(amount)), period, tz, bool(hard)) for pk, amount, period, tz, hard in rows]


def window_spend(start: datetime, end: datetime, *, checkpoint: bool = False) -> int:
    """Net money charged to [start, end): the latest checkpoint plus the entries after it.

    With ``checkpoint`` (only under the budget lock, inside the routing
    transaction) a new checkpoint is appended when many entries followed the
    last one, or when the window has none yet.
    """
    with _Exec() as x:
        s, e = x.d.dt(start), x.d.dt(end)
        row = x.run("checkpoint", [s, e]).fetchone()
        if row is None:
            # First look at this window: one indexed SUM, then remember it.
            up_to = int(x.run("max_id").fetchone()[0])
            total = int(x.run("spend", [s, e]).fetchone()[0] or 0)
            if checkpoint:
                x.run("insert_checkpoint", [s, e, up_to, total, x.d.dt(utc_now())])
            return total
        base_id, base_total = int(row[0]), int(row[1])
        delta, count, last_id = x.run("since", [s, e, base_id]).fetchone()
        total = base_total + int(delta or 0)
        if checkpoint and count >= CHECKPOINT_EVERY:
            x.run("insert_checkpoint", [s, e, int(last_id), total, x.d.dt(utc_now())])
        return total


@dataclass(slots=True)
class ProviderRow:
    """One provider as the decision reads it (prices as Decimals, the breaker as stored)."""

    pk: int
    key: str
    name: str
    cost_per_1m: Decimal
    context_window: int
    latency_ms: float
    quality: float
    capabilities: list[str]
    enabled: bool
    healthy: bool
    api_base: str
    api_format: str
    upstream_model: str
    api_key_env: str
    input_cost_per_1m: Decimal | None
    output_cost_per_1m: Decimal | None
    cached_input_cost_per_1m: Decimal | None
    breaker_state: str
    breaker_failures: int
    breaker_until: datetime | None
    observed_ttfb_ms: float | None
    use_observed_latency: bool


def _aware(value: Any) -> datetime | None:
    # SQLite hands a datetime column back as naive UTC (text, or a datetime through Django's converters);
    # PostgreSQL as an aware datetime.
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def provider_rows() -> list[ProviderRow]:
    """Every provider, in tie-break order."""
    with _Exec() as x:
        rows = x.run("providers").fetchall()
    out = []
    for r in rows:
        # The same row comes back decision after decision: its conversion (Decimals, datetimes, JSON) is kept,
        # each caller still gets a ProviderRow of its own (the decision updates a claimed probe in memory).
        key = r if not isinstance(r[7], list) else (*r[:7], tuple(r[7]), *r[8:])  # PostgreSQL's JSON: a list
        values = _converted.get(key)
        if values is None:
            if len(_converted) >= 512:  # breaker moves make new rows: keep only recent ones
                _converted.clear()
            values = _converted[key] = _convert(r)
        out.append(ProviderRow(*values))
    return out


_converted: dict[tuple, tuple] = {}


def _convert(r: tuple) -> tuple:
    """A providers row as ProviderRow's fields, in their order."""
    (
        pk,
        key,
        name,
        cost,
        context,
        latency,
        quality,
        caps,
        enabled,
        health,
        base,
        fmt,
        model,
        key_env,
        p_in,
        p_out,
        p_cached,
        breaker,
        failures,
        until,
        ttfb,
        use_observed,
    ) = r
    if isinstance(caps, (str, bytes)):
        caps = orjson.loads(caps)
    return (
        pk,
        key,
        name,
        _money(cost),
        context,
        float(latency),
        quality,
        list(caps or []),
        bool(enabled),
        health == Provider.Health.HEALTHY,
        base,
        fmt,
        model,
        key_env,
        None if p_in is None else _money(p_in),
        None if p_out is None else _money(p_out),
        None if p_cached is None else _money(p_cached),
        breaker,
        failures,
        _aware(until),
        ttfb,
        bool(use_observed),
    )


def weights_row() -> dict[str, float] | None:
    with _Exec() as x:
        row = x.run("weights").fetchone()
    return None if row is None else dict(zip(_WEIGHT_FIELDS, row, strict=True))


def _insert_rows(table: str, rows: list[dict[str, Any]], values: Callable[[_Dialect, dict[str, Any]], tuple]) -> list:
    """Append ``rows`` to ``table`` ("route", "ledger" or "attempt"), up to MAX_ROWS_PER_INSERT per statement;
    returns what the statements returned (the route log's ids and decision ids)."""
    returned: list = []
    for i in range(0, len(rows), MAX_ROWS_PER_INSERT):
        chunk = rows[i : i + MAX_ROWS_PER_INSERT]
        with _Exec(raw=True) as x:
            params: list[Any] = []
            for row in chunk:
                params += values(x.d, row)
            cursor = x.execute(_insert_many(x.conn.vendor, table, len(chunk)), params)
            if table == "route":
                returned += cursor.fetchall()
    return returned


def _route_values(d: _Dialect, r: dict[str, Any]) -> tuple:
    return (
        r["decision_id"],
        d.dt(r["created_at"]),
        r["interface"],
        r["task_type"],
        r["priority"],
        r["token_count"],
        r["max_latency"],
        r["provider"],
        r["provider_key"],
        r["outcome"],
        r["estimated_cost_nanos"],
        d.decimal(r["cost_per_1m"]),
        r["confidence"],
        r["reasoning"],
        d.json(r["candidates"]),
        r.get("request_id", ""),
        r.get("attempt", 1),
        d.decimal(r.get("input_cost_per_1m")),
        d.decimal(r.get("output_cost_per_1m")),
        d.decimal(r.get("cached_input_cost_per_1m")),
    )


def _ledger_values(d: _Dialect, r: dict[str, Any]) -> tuple:
    return (
        str(r["kind"]),
        r["amount_nanos"],
        d.dt(r["charged_at"]),
        d.dt(r["created_at"]),
        r["route"],
        r["provider"],
        r["provider_key"],
        r.get("prompt_tokens"),
        r.get("completion_tokens"),
        r.get("cached_tokens"),
        r.get("usage_source", ""),
    )


def _attempt_values(d: _Dialect, r: dict[str, Any]) -> tuple:
    return tuple(d.dt(r[f]) if f == "created_at" else r[f] for f in _ATTEMPT_FIELDS)


def insert_route_logs(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Append route logs (dicts of ``_ROUTE_FIELDS``); returns their ids by decision id."""
    return {decision_id: pk for pk, decision_id in _insert_rows("route", rows, _route_values)}


def insert_ledger_entries(rows: list[dict[str, Any]]) -> None:
    """Append ledger entries (dicts of ``_LEDGER_FIELDS``), in order."""
    _insert_rows("ledger", rows, _ledger_values)


def insert_attempts(rows: list[dict[str, Any]]) -> None:
    """Append gateway attempt records (dicts of ``_ATTEMPT_FIELDS``)."""
    _insert_rows("attempt", rows, _attempt_values)
