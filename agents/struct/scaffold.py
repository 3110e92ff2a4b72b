"""Templates for new structures: discovery and rendering. Pure: no Django import.

A template is a directory under ``agents/struct/templates/``: ``template.yaml``
(a description) and ``files/`` whose files are rendered into the new folder,
names included. Rendering substitutes only known ``{{ key }}`` placeholders,
so a template cannot run code, and every rendered path goes through the same
validation as request input, so even a bad template cannot write outside the
new folder.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from agents.struct.paths import split_relative

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_TEMPLATE_SUFFIX = ".tmpl"
_MAX_TEMPLATE_FILE = 256 * 1024


@dataclass(frozen=True)
class Template:
    name: str
    description: str
    files: tuple[str, ...]  # relative paths under files/, '/'-separated
    root: Path

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "files": [_strip_suffix(f) for f in self.files]}


def _strip_suffix(path: str) -> str:
    return path[: -len(_TEMPLATE_SUFFIX)] if path.endswith(_TEMPLATE_SUFFIX) else path


def load_templates(directory: Path = TEMPLATES_DIR) -> dict[str, Template]:
    """Every well-formed template in ``directory``, by name (sorted)."""
    found: dict[str, Template] = {}
    if not directory.is_dir():
        return found
    for tdir in sorted(p for p in directory.iterdir() if p.is_dir() and not p.is_symlink()):
        if not TEMPLATE_NAME_RE.match(tdir.name) or not (tdir / "files").is_dir():
            continue
        meta: dict[str, Any] = {}
        meta_file = tdir / "template.yaml"
        if meta_file.is_file():
            meta = yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}
        files = tuple(
            sorted(
                p.relative_to(tdir / "files").as_posix()
                for p in (tdir / "files").rglob("*")
                if p.is_file() and not p.is_symlink()
            )
        )
        found[tdir.name] = Template(
            name=tdir.name, description=str(meta.get("description", "")).strip(), files=files, root=tdir / "files"
        )
    return found


def module_name(slug: str) -> str:
    """A Python identifier from a slug: ``user-auth`` -> ``user_auth``; ``2fa`` -> ``m_2fa``."""
    ident = slug.replace("-", "_") or "module"
    if ident[0].isdigit() or keyword.iskeyword(ident):
        ident = f"m_{ident}"
    return ident


def class_name(slug: str) -> str:
    name = "".join(part.capitalize() for part in slug.split("-") if part) or "Module"
    return f"C{name}" if name[0].isdigit() else name


def _py_escape(value: str) -> str:
    # Values land inside docstrings and string literals of the stub: neutralise
    # backslashes and quote runs so a purpose text cannot end the string early.
    return value.replace("\\", "\\\\").replace('"', '\\"')


def render_text(text: str, context: dict[str, str], *, python: bool = False) -> str:
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in context:
            return match.group(0)  # unknown placeholder: left as written
        return _py_escape(context[key]) if python else context[key]

    return _PLACEHOLDER_RE.sub(sub, text)


def render(template: Template, context: dict[str, str]) -> list[tuple[str, bytes]]:
    """The files of ``template`` rendered with ``context``: [(relative path, bytes)].

    Raises agents.struct.paths.UnsafePath if a rendered name is not a safe path.
    """
    out: list[tuple[str, bytes]] = []
    for rel in template.files:
        source = template.root / rel
        raw = source.read_bytes()[:_MAX_TEMPLATE_FILE]
        target = _strip_suffix(render_text(rel, {k: v for k, v in context.items() if k in ("slug", "module")}))
        split_relative(target, what="template file name")  # validates every component
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            out.append((target, raw))  # binary asset: copied as is
            continue
        out.append((target, render_text(text, context, python=target.endswith(".py")).encode("utf-8")))
    return out
