"""Reads of the struct agent: find, list and describe recorded structures."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from agents.naming.cid import parse_cid
from agents.protocol import ErrorCode, ProtocolError
from agents.struct import paths
from agents.struct.models import Structure

_DIRECTORY_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*__[0-9A-HJKMNP-TV-Z]{8}$")
MAX_SPEC_BYTES = 64 * 1024
SPEC_FILE = "spec.yaml"


def structure_to_dict(row: Structure) -> dict[str, Any]:
    root = Path(row.workspace_root)
    return {
        "name": row.name,
        "slug": row.slug,
        "cid": row.cid,
        "directory": row.directory,
        "relative_path": row.relative_path,
        "path": str(root / row.relative_path),
        "workspace_root": row.workspace_root,
        "template": row.template,
        "purpose": row.purpose,
        "owner": row.owner,
        "files": list(row.files),
        "status": row.status,
        "created": row.created_at.isoformat().replace("+00:00", "Z"),
    }


def structure_get(*, root: Path, cid: str | None = None, directory: str | None = None) -> Structure:
    """The live structure under ``root`` named by its CID or its directory name."""
    if not cid and not directory:
        raise ProtocolError(ErrorCode.VALIDATION_ERROR, "Give 'cid' or 'directory'", {"fields": ["cid", "directory"]})
    qs = Structure.objects.filter(workspace_root=str(root), removed_at__isnull=True)
    if cid:
        if not isinstance(cid, str) or parse_cid(cid) is None:
            raise ProtocolError(ErrorCode.VALIDATION_ERROR, "'cid' is not a well-formed CID", {"field": "cid"})
        qs = qs.filter(cid=cid)
    if directory:
        # Only ever a bare folder name we could have made; a path, '..', NUL
        # or anything long is rejected before it reaches a query or the disk.
        if not isinstance(directory, str) or len(directory) > 100 or not _DIRECTORY_RE.match(directory):
            raise ProtocolError(
                ErrorCode.VALIDATION_ERROR,
                "'directory' must be a folder name of the form <slug>__<ULID8>",
                {"field": "directory"},
            )
        qs = qs.filter(directory=directory)
    row = qs.first()
    if row is None:
        raise ProtocolError(
            ErrorCode.NOT_FOUND, "No structure created by this agent matches", {"cid": cid, "directory": directory}
        )
    return row


def structure_list(*, root: Path, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    qs = Structure.objects.filter(workspace_root=str(root), removed_at__isnull=True)
    total = qs.count()
    rows = list(qs.order_by("-created_at", "-id")[offset : offset + limit])
    return {"structures": [structure_to_dict(r) for r in rows], "total": total, "limit": limit, "offset": offset}


def structure_describe(*, root: Path, cid: str | None = None, directory: str | None = None) -> dict[str, Any]:
    """The record, the files on disk (symlinks listed, never followed) and the parsed spec."""
    row = structure_get(root=root, cid=cid, directory=directory)
    out: dict[str, Any] = {**structure_to_dict(row), "exists": False, "entries": [], "truncated": False, "spec": None}
    try:
        root_fd = paths.open_root(root, create=False)
    except FileNotFoundError:
        return out
    try:
        try:
            dir_fd = paths.open_dir(root_fd, row.relative_path.split("/"))
        except FileNotFoundError:
            return out
        except paths.UnsafePath as exc:
            out["error"] = f"the folder is not a plain directory inside the workspace: {exc}"
            return out
        try:
            out["exists"] = True
            entries, out["truncated"] = paths.list_tree(dir_fd)
            out["entries"] = [{"path": e.path, "kind": e.kind, "size": e.size} for e in entries]
            out["spec"], problem = _read_spec(dir_fd)
            if problem:
                out["spec_error"] = problem
        finally:
            os.close(dir_fd)
    finally:
        os.close(root_fd)
    return out


def _read_spec(dir_fd: int) -> tuple[dict[str, Any] | None, str | None]:
    try:
        raw = paths.read_relative(dir_fd, SPEC_FILE, max_bytes=MAX_SPEC_BYTES)
    except FileNotFoundError:
        return None, "spec.yaml is missing"
    except paths.UnsafePath as exc:
        return None, str(exc)
    if len(raw) > MAX_SPEC_BYTES:
        return None, f"spec.yaml is larger than {MAX_SPEC_BYTES} bytes"
    try:
        spec = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        return None, f"spec.yaml is not valid YAML: {exc}"
    return (spec, None) if isinstance(spec, dict) else (None, "spec.yaml is not a mapping")
