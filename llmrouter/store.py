"""The SQL of the routing hot path: a handful of fixed statements.

``route_request`` runs five or six statements per decision. Through the ORM,
compiling them costs more than executing them (about three quarters of the
time in a profile), so the hot path uses plain parameterised SQL built once
per database vendor from the models' metadata, with values adapted by the
model fields themselves (``get_db_prep_save``), so what it writes is exactly
what the ORM would write. Everything else (admin, API, settlement) uses the ORM.
Call these inside ``transaction.atomic()``.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import orjson
from django.db import connection

from llmrouter.models import (Budget, LedgerCheckpoint, LedgerEntry, Provider, RouteLog, RouterWeights,
                              dollars_to_nanos)
from llmrouter.scoring import Weights
from llmrouter.windows import utc_now as windows_now

_WEIGHT_FIELDS = tuple(Weights.__dataclass_fields__)
_ROUTE_FIELDS = ("decision_id", "created_at", "interface", "task_type", "priority", "token_count", "max_latency",
                 "provider", "provider_key", "outcome", "estimated_cost_nanos", "cost_per_1m", "confidence",
                 "reasoning", "candidates")
_LEDGER_FIELDS = ("kind", "amount_nanos", "charged_at", "created_at", "route", "provider", "provider_key")
# Entries summed past the latest checkpoint before a new one is appended.
CHECKPOINT_EVERY = 256


def _columns(model, names) -> list[tuple[str, Any]]:
    fields = [model._meta.get_field(n) for n in names]
    return [(connection.ops.quote_name(f.column), f) for f in fields]


@lru_cache(maxsize=4)
def _statements(vendor: str) -> dict[str, Any]:
    q = connection.ops.quote_name
    budget, ledger, provider = q(Budget._meta.db_table), q(LedgerEntry._meta.db_table), q(Provider._meta.db_table)
    checkpoint = q(LedgerCheckpoint._meta.db_table)
    for_update = " FOR UPDATE" if connection.features.has_select_for_update else ""
    route_cols, ledger_cols = _columns(RouteLog, _ROUTE_FIELDS), _columns(LedgerEntry, _LEDGER_FIELDS)
    returning = " RETURNING id" if connection.features.can_return_columns_from_insert else ""
    return {
        "budgets": f"SELECT id, amount, period, timezone, hard_cap FROM {budget} WHERE active ORDER BY id{for_update}",
        "spend": f"SELECT COALESCE(SUM(amount_nanos), 0) FROM {ledger} WHERE charged_at >= %s AND charged_at < %s",
        "max_id": f"SELECT COALESCE(MAX(id), 0) FROM {ledger}",
        "checkpoint": (f"SELECT up_to_id, total_nanos FROM {checkpoint} WHERE window_start = %s AND window_end = %s"
                       f" ORDER BY up_to_id DESC LIMIT 1"),
        # Only entries after the checkpoint, found by primary key: a short range scan.
        "since": (f"SELECT COALESCE(SUM(CASE WHEN charged_at >= %s AND charged_at < %s THEN amount_nanos ELSE 0 END), 0),"
                  f" COUNT(*), COALESCE(MAX(id), 0) FROM {ledger} WHERE id > %s"),
        "insert_checkpoint": (f"INSERT INTO {checkpoint} (window_start, window_end, up_to_id, total_nanos, created_at)"
                              f" VALUES (%s, %s, %s, %s, %s)"),
        "providers": (f"SELECT id, key, name, cost_per_1m, context_window, latency_ms, quality, capabilities, enabled,"
                      f" health_state FROM {provider} ORDER BY display_order, key"),
        "weights": f"SELECT {', '.join(q(f) for f in _WEIGHT_FIELDS)} FROM {q(RouterWeights._meta.db_table)} WHERE id = 1",
        "insert_route": (f"INSERT INTO {q(RouteLog._meta.db_table)} ({', '.join(c for c, _ in route_cols)})"
                         f" VALUES ({', '.join(['%s'] * len(route_cols))}){returning}"),
        "route_fields": [f for _, f in route_cols],
        "insert_ledger": (f"INSERT INTO {q(LedgerEntry._meta.db_table)} ({', '.join(c for c, _ in ledger_cols)})"
                          f" VALUES ({', '.join(['%s'] * len(ledger_cols))})"),
        "ledger_fields": [f for _, f in ledger_cols],
        "returning": bool(returning),
    }


def _sql() -> dict[str, Any]:
    return _statements(connection.vendor)


def _money(value: Any) -> Decimal:
    # SQLite hands a decimal column back as int or float; PostgreSQL as Decimal.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _datetime_param(value: datetime) -> Any:
    return connection.ops.adapt_datetimefield_value(value)


def lock_active_budgets() -> list[tuple[int, int, str, str, bool]]:
    """(id, amount in nano-dollars, period, zone, hard cap) of each active budget, rows locked."""
    with connection.cursor() as cursor:
        cursor.execute(_sql()["budgets"])
        rows = cursor.fetchall()
    return [(pk, dollars_to_nanos(_money(amount)), period, tz, bool(hard)) for pk, amount, period, tz, hard in rows]


def window_spend(start: datetime, end: datetime, *, checkpoint: bool = False) -> int:
    """Net money charged to [start, end): the latest checkpoint plus the entries after it.

    With ``checkpoint`` (only under the budget lock, inside the routing
    transaction) a new checkpoint is appended when many entries followed the
    last one, or when the window has none yet.
    """
    sql = _sql()
    s, e = _datetime_param(start), _datetime_param(end)
    with connection.cursor() as cursor:
        cursor.execute(sql["checkpoint"], [s, e])
        row = cursor.fetchone()
        if row is None:
            # First look at this window: one indexed SUM, then remember it.
            cursor.execute(sql["max_id"])
            up_to = int(cursor.fetchone()[0])
            cursor.execute(sql["spend"], [s, e])
            total = int(cursor.fetchone()[0] or 0)
            if checkpoint:
                cursor.execute(sql["insert_checkpoint"], [s, e, up_to, total, _datetime_param(windows_now())])
            return total
        base_id, base_total = int(row[0]), int(row[1])
        cursor.execute(sql["since"], [s, e, base_id])
        delta, count, last_id = cursor.fetchone()
        total = base_total + int(delta or 0)
        if checkpoint and count >= CHECKPOINT_EVERY:
            cursor.execute(sql["insert_checkpoint"], [s, e, int(last_id), total, _datetime_param(windows_now())])
        return total


def provider_rows() -> list[tuple]:
    """(pk, key, name, price Decimal, context, latency, quality, capabilities list, enabled, healthy) in tie order."""
    with connection.cursor() as cursor:
        cursor.execute(_sql()["providers"])
        rows = cursor.fetchall()
    out = []
    for pk, key, name, cost, context, latency, quality, caps, enabled, health in rows:
        if isinstance(caps, (str, bytes)):
            caps = orjson.loads(caps)
        out.append((pk, key, name, _money(cost), context, latency, quality, caps or [], bool(enabled),
                    health == Provider.Health.HEALTHY))
    return out


def weights_row() -> dict[str, float] | None:
    with connection.cursor() as cursor:
        cursor.execute(_sql()["weights"])
        row = cursor.fetchone()
    return None if row is None else dict(zip(_WEIGHT_FIELDS, row))


def _prep(fields, values) -> list[Any]:
    return [f.get_db_prep_save(v, connection) for f, v in zip(fields, values)]


def insert_route_log(**values: Any) -> int:
    sql = _sql()
    params = _prep(sql["route_fields"], [values[name] for name in _ROUTE_FIELDS])
    with connection.cursor() as cursor:
        cursor.execute(sql["insert_route"], params)
        return cursor.fetchone()[0] if sql["returning"] else cursor.lastrowid


def insert_ledger_entry(**values: Any) -> None:
    sql = _sql()
    with connection.cursor() as cursor:
        cursor.execute(sql["insert_ledger"], _prep(sql["ledger_fields"], [values[name] for name in _LEDGER_FIELDS]))
