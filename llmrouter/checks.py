"""System checks for the router's configuration (ids llmrouter.E0xx / W0xx).

Settings are checked on every ``manage.py check``/start; the rows an
operator edits (providers, budgets, weights) with ``check --database default``
because they need the database.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from llmrouter import conf, windows


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# What each key's value must be, with the error reported otherwise (the keys not listed take any value).
_VALUE_RULES: tuple[tuple[str, Callable[[Any], bool], str, str], ...] = (
    (
        "ROUTE_WORKERS",
        lambda v: isinstance(v, int) and v >= 0,
        "LLMROUTER['ROUTE_WORKERS'] must be an integer >= 0 (0: the default, one).",
        "llmrouter.E003",
    ),
    (
        "HEALTH_CHECK_TIMEOUT_S",
        lambda v: isinstance(v, (int, float)) and v > 0,
        "LLMROUTER['HEALTH_CHECK_TIMEOUT_S'] must be a positive number of seconds.",
        "llmrouter.E004",
    ),
    (
        "HEALTH_ORCHESTRATOR_TIMEOUT_S",
        lambda v: isinstance(v, (int, float)) and v > 0,
        "LLMROUTER['HEALTH_ORCHESTRATOR_TIMEOUT_S'] must be a positive number of seconds.",
        "llmrouter.E004",
    ),
    (
        "UNHEALTHY_AFTER_FAILURES",
        lambda v: isinstance(v, int) and v >= 1,
        "LLMROUTER['UNHEALTHY_AFTER_FAILURES'] must be an integer >= 1.",
        "llmrouter.E005",
    ),
    (
        "ANONYMOUS_BUDGET_SHARE",
        lambda v: _is_number(v) and 0 <= v <= 1,
        "LLMROUTER['ANONYMOUS_BUDGET_SHARE'] must be a number in 0..1 (0: anonymous callers reserve nothing, only "
        "free providers).",
        "llmrouter.E006",
    ),
)


@register()
def check_settings(app_configs: Any, **kwargs: Any) -> list:
    errors: list = []
    configured = getattr(settings, "LLMROUTER", {})
    if not isinstance(configured, dict):
        return [Error("settings.LLMROUTER must be a dict.", id="llmrouter.E001")]
    unknown = sorted(set(configured) - conf.KEYS)
    if unknown:
        errors.append(
            Error(
                f"Unknown LLMROUTER settings: {', '.join(unknown)}.",
                hint=f"Known: {', '.join(sorted(conf.KEYS))}.",
                id="llmrouter.E002",
            )
        )
    missing = sorted(conf.KEYS - set(configured))
    if missing:
        # settings.py writes every key and is the only home of their defaults: a settings module of its own
        # has no fallback to lean on, so a key it leaves out would fail the first request that reads it.
        errors.append(
            Error(
                f"LLMROUTER lacks {', '.join(missing)}.",
                hint="Start from orchestrator_site.settings.LLMROUTER and change what differs.",
                id="llmrouter.E007",
            )
        )
    errors.extend(
        Error(message, id=error_id)
        for name, is_valid, message, error_id in _VALUE_RULES
        if name in configured and not is_valid(configured[name])
    )
    return errors


@register(Tags.database)
def check_data(app_configs: Any, **kwargs: Any) -> list:
    from django.db import DatabaseError

    from llmrouter.models import Budget, Provider, RouterWeights

    errors: list = []
    try:
        budgets = list(Budget.objects.filter(active=True))
        providers = list(Provider.objects.all())
        weights = RouterWeights.objects.filter(pk=1).first()
    except DatabaseError:
        return []  # not migrated yet: migrate reports that
    for b in budgets:
        if not windows.is_valid_zone(b.timezone):
            errors.append(Error(f"Budget {b.name!r} has an unknown time zone {b.timezone!r}.", id="llmrouter.E010"))
        if not 0 <= b.warning_threshold <= 1:
            errors.append(Error(f"Budget {b.name!r} has a warning threshold outside 0..1.", id="llmrouter.E011"))
    for p in providers:
        if not 0 <= p.quality <= 1:
            errors.append(Error(f"Provider {p.key!r} has a quality outside 0..1.", id="llmrouter.E012"))
        if not isinstance(p.capabilities, list) or not all(isinstance(c, str) for c in p.capabilities):
            errors.append(Error(f"Provider {p.key!r}: capabilities must be a list of strings.", id="llmrouter.E013"))
    if weights is not None and (weights.cost_scale <= 0 or weights.latency_scale_ms <= 0):
        errors.append(Error("Router weights: cost_scale and latency_scale_ms must be positive.", id="llmrouter.E014"))
    if not budgets:
        errors.append(Warning("No active budget: routing spends without a limit.", id="llmrouter.W001"))
    if not any(p.enabled for p in providers):
        errors.append(Warning("No enabled provider: every routing request fails.", id="llmrouter.W002"))
    return errors
