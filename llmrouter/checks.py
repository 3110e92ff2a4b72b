"""System checks for the router's configuration (ids llmrouter.E0xx / W0xx).

Settings are checked on every ``manage.py check``/start; the rows an
operator edits (providers, budgets, weights) with ``check --database default``
because they need the database.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from llmrouter import conf, windows


@register()
def check_settings(app_configs: Any, **kwargs: Any) -> list:
    errors: list = []
    configured = getattr(settings, "LLMROUTER", {})
    if not isinstance(configured, dict):
        return [Error("settings.LLMROUTER must be a dict.", id="llmrouter.E001")]
    unknown = sorted(set(configured) - set(conf.DEFAULTS))
    if unknown:
        errors.append(Error(f"Unknown LLMROUTER settings: {', '.join(unknown)}.",
                            hint=f"Known: {', '.join(sorted(conf.DEFAULTS))}.", id="llmrouter.E002"))
    workers = configured.get("ROUTE_WORKERS", conf.DEFAULTS["ROUTE_WORKERS"])
    if not isinstance(workers, int) or workers < 0:
        errors.append(Error("LLMROUTER['ROUTE_WORKERS'] must be an integer >= 0 (0: the default, one).",
                            id="llmrouter.E003"))
    for name in ("HEALTH_CHECK_TIMEOUT_S", "HEALTH_ORCHESTRATOR_TIMEOUT_S"):
        value = configured.get(name, conf.DEFAULTS[name])
        if not isinstance(value, (int, float)) or value <= 0:
            errors.append(Error(f"LLMROUTER['{name}'] must be a positive number of seconds.", id="llmrouter.E004"))
    failures = configured.get("UNHEALTHY_AFTER_FAILURES", conf.DEFAULTS["UNHEALTHY_AFTER_FAILURES"])
    if not isinstance(failures, int) or failures < 1:
        errors.append(Error("LLMROUTER['UNHEALTHY_AFTER_FAILURES'] must be an integer >= 1.", id="llmrouter.E005"))
    share = configured.get("ANONYMOUS_BUDGET_SHARE", conf.DEFAULTS["ANONYMOUS_BUDGET_SHARE"])
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 <= share <= 1:
        errors.append(Error("LLMROUTER['ANONYMOUS_BUDGET_SHARE'] must be a number in 0..1 (0: anonymous callers "
                            "reserve nothing, only free providers).", id="llmrouter.E006"))
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
