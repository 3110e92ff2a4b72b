"""llmrouter is an app of its own: models, services, selectors, validation, serializers, admin. Its HTTP
shells live in the web package (orchestrator_site/web/), which imports llmrouter, never the other way."""

from __future__ import annotations

import ast
from pathlib import Path

import llmrouter

FORBIDDEN = "orchestrator_site"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))  # importlib.import_module("...")
    return found


def test_llmrouter_imports_nothing_of_the_site() -> None:
    root = Path(llmrouter.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 10  # the walk found the package
    offending = [
        f"{path.relative_to(root.parent)}:{line} imports {name}"
        for path in modules
        for line, name in _imported_modules(ast.parse(path.read_text(), str(path)))
        if name == FORBIDDEN or name.startswith(FORBIDDEN + ".")
    ]
    assert offending == [], "\n".join(offending)


def test_the_walk_sees_every_kind_of_import() -> None:
    source = (
        "import orchestrator_site.web\nfrom orchestrator_site.web import api\n"
        "def f():\n    from orchestrator_site.fast_http import read_body\n"
        "importlib.import_module('orchestrator_site.web.admission')\nfrom . import services\n"
    )
    assert [name for _, name in _imported_modules(ast.parse(source))] == [
        "orchestrator_site.web",
        "orchestrator_site.web",
        "orchestrator_site.fast_http",
        "orchestrator_site.web.admission",
    ]
