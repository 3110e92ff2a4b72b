"""Real answers checked against the served OpenAPI schema, strictly: a field the answer has and the schema
does not (or the other way round, for required fields) fails, whatever schemathesis' looser check says."""

from __future__ import annotations

from typing import Any

import jsonschema


def _strict(node: Any, components: dict[str, Any], seen: tuple[str, ...] = ()) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema: $refs inlined, ``nullable`` as a null alternative, and
    no properties beyond the declared ones where the schema lists them and says nothing else."""
    if isinstance(node, list):
        return [_strict(item, components, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        assert name not in seen, f"recursive schema {name}"
        return _strict(components[name], components, (*seen, name))
    out = {
        key: _strict(value, components, seen)
        for key, value in node.items()
        if key not in ("nullable", "readOnly", "writeOnly", "description", "example")
    }
    if "properties" in out and "additionalProperties" not in out and "allOf" not in out:
        out["additionalProperties"] = False
    if node.get("nullable"):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def response_schema(openapi: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any]:
    responses = openapi["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path} answered {status}, which its schema does not list"
    schema = responses[str(status)]["content"]["application/json"]["schema"]
    return _strict(schema, openapi["components"]["schemas"])


def check_answer(
    openapi: dict[str, Any], path: str, method: str, status: int, body: Any, template: str | None = None
) -> None:
    """``body`` (a real answer of ``method path`` with ``status``) is what the schema says, field for field.
    ``template``: the schema's path when ``path`` fills a parameter in."""
    schema = response_schema(openapi, template or path, method, status)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method} {path} {status}:\n" + "\n".join(
        f"  at {'/'.join(map(str, e.path)) or '(top)'}: {e.message}" for e in errors
    )
