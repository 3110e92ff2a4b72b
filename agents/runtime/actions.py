"""The action registry: ``@action`` turns an agent method into a wire action.

Each action declares its input fields (validated before the handler runs, so
handlers see clean data), whether it is idempotent (the orchestrator may re-send
it to another instance when one dies mid-request) and whether it is blocking
(sync ORM work: run in a worker thread so the event loop stays free).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.protocol import ErrorCode, ProtocolError

_JSON_TYPES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    dict: "object",
    list: "array",
}


@dataclass(frozen=True)
class Field:
    """One input field of an action."""

    name: str
    type: type = str
    required: bool = False
    default: Any = None
    max_length: int | None = None  # strings and arrays
    min_value: float | None = None
    max_value: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": _JSON_TYPES.get(self.type, self.type.__name__),
            "required": self.required,
        }
        for key in ("default", "max_length", "min_value", "max_value", "help"):
            value = getattr(self, key)
            if value not in (None, ""):
                out[key] = value
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out

    def clean(self, data: dict[str, Any]) -> Any:
        if self.name not in data or data[self.name] is None:
            if self.required:
                raise _invalid(self.name, "is required")
            return self.default
        value = data[self.name]
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is not bool and isinstance(value, bool)):
            raise _invalid(self.name, f"must be of type {_JSON_TYPES.get(self.type, self.type.__name__)}")
        if self.max_length is not None and isinstance(value, (str, list)) and len(value) > self.max_length:
            raise _invalid(self.name, f"is longer than {self.max_length}")
        if self.min_value is not None and isinstance(value, (int, float)) and value < self.min_value:
            raise _invalid(self.name, f"must be at least {self.min_value}")
        if self.max_value is not None and isinstance(value, (int, float)) and value > self.max_value:
            raise _invalid(self.name, f"must be at most {self.max_value}")
        if self.choices is not None and value not in self.choices:
            raise _invalid(self.name, f"must be one of {list(self.choices)}")
        return value


def _invalid(name: str, problem: str) -> ProtocolError:
    return ProtocolError(ErrorCode.VALIDATION_ERROR, f"'{name}' {problem}", {"field": name})


@dataclass(frozen=True)
class ActionSpec:
    name: str
    func: Callable[..., Any]
    fields: tuple[Field, ...] = ()
    idempotent: bool = False
    blocking: bool = False
    allow_extra: bool = True
    description: str = ""

    def clean(self, data: dict[str, Any]) -> dict[str, Any]:
        if not self.fields and self.allow_extra:
            return dict(data)  # nothing to check (echo, describe): the same copy the loop below makes, faster
        cleaned = {f.name: f.clean(data) for f in self.fields}
        if self.allow_extra:
            for key, value in data.items():
                cleaned.setdefault(key, value)
        else:
            unknown = sorted(set(data) - {f.name for f in self.fields})
            if unknown:
                raise ProtocolError(ErrorCode.VALIDATION_ERROR, f"Unknown fields: {unknown}", {"unknown": unknown})
        return cleaned

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "idempotent": self.idempotent,
            "fields": [f.describe() for f in self.fields],
        }


ACTION_ATTR = "_agent_action_spec"


def action(
    name: str | None = None,
    *,
    fields: tuple[Field, ...] | list[Field] = (),
    idempotent: bool = False,
    allow_extra: bool = True,
    description: str = "",
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark an Agent method as a wire action.

    The method is ``handler(self, data: dict, ctx: RequestContext) -> dict``;
    an ``async def`` runs on the event loop, a plain ``def`` (ORM work) runs in
    a worker thread. Raise ProtocolError for an error answer.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        spec = ActionSpec(
            name=name or func.__name__,
            func=func,
            fields=tuple(fields),
            idempotent=idempotent,
            blocking=not inspect.iscoroutinefunction(func),
            allow_extra=allow_extra,
            description=description or (inspect.getdoc(func) or "").split("\n")[0],
        )
        setattr(func, ACTION_ATTR, spec)
        return func

    return decorate


def collect_actions(cls: type) -> dict[str, ActionSpec]:
    """Every @action on a class and its bases, the subclass winning."""
    found: dict[str, ActionSpec] = {}
    for klass in reversed(cls.__mro__):
        for attr in vars(klass).values():
            spec = getattr(attr, ACTION_ATTR, None)
            if spec is not None:
                found[spec.name] = spec
    return found
