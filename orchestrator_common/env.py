"""Typed helpers that read settings from the environment and fail loudly.

Every setting has a working single-machine default; a value that is present
but malformed stops the process at start with a message naming the variable,
instead of surfacing later as a confusing runtime error.

settings.py is the one caller for the project's settings; the few other
readers (a plain script's Redis URL, the socket directory without Django)
go through these helpers too, so each variable's default is written once.
Secrets whose variable name is data (a provider's ``api_key_env``, an agent
type's AGENT_TOKEN_<TYPE>) are read where they are used, at call time: the
name is only known from a row or a type, and a key rotated in the
environment must not wait for a restart.
Only ``django.core.exceptions`` is imported: it needs no configured settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

# Also the defaults of a plain script that talks to Redis without Django (agents/redis_client.py).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_REDIS_KEY_PREFIX = "orch:"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    return _env_number(name, default, int, "an integer", minimum)


def env_float(name: str, default: float, *, minimum: float | None = None) -> float:
    return _env_number(name, default, float, "a number", minimum)


_Number = TypeVar("_Number", int, float)


def _env_number(
    name: str, default: _Number, parse: Callable[[str], _Number], kind: str, minimum: _Number | None
) -> _Number:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = parse(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not {kind}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is below its minimum of {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]
