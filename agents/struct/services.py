"""Writes of the struct agent: create and remove capability folders.

Ordering is what makes this safe under crashes and races:

* create: the database row is claimed first (unique constraints on the live
  slug and CID decide a race), then the folder is made with an exclusive
  ``mkdir`` (something already on disk is a collision, never overwritten),
  then the files are written atomically with ``spec.yaml`` last, and only
  then is the row marked ready. A failure undoes the folder and the row; a
  crash leaves a ``creating`` row that remove_structure can clean up.
* remove: only a recorded structure, only inside its recorded folder; files
  are removed before the row is marked removed, so a crash in between leaves
  a record pointing at a partly removed folder (removable again) rather than
  an unrecorded folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from agents.naming.cid import make_cid, parse_cid, slugify_name, ulid8
from agents.protocol import ErrorCode, ProtocolError
from agents.struct import paths
from agents.struct.models import Structure
from agents.struct.scaffold import class_name, load_templates, module_name, render
from agents.struct.selectors import SPEC_FILE, structure_get, structure_to_dict

MAX_PURPOSE = 2000
MAX_OWNER = 100
DEFAULT_TEMPLATE = "python-module"


def _invalid(message: str, **details: Any) -> ProtocolError:
    return ProtocolError(ErrorCode.VALIDATION_ERROR, message, details)


def _check_text(field: str, value: str, max_length: int) -> str:
    if "\x00" in value:
        raise _invalid(f"'{field}' must not contain NUL bytes", field=field)
    if len(value) > max_length:
        raise _invalid(f"'{field}' is longer than {max_length} characters", field=field)
    return value.strip()


def _resolve_cid(cid: str | None, *, project: str, environment: str) -> str:
    if cid is None or cid == "":
        return make_cid(project=project, environment=environment, kind="structure")
    if parse_cid(cid) is None:
        raise _invalid("'cid' is not a well-formed CID (cid:<project>:<environment>:<kind>:<ULID>)", field="cid")
    return cid


def _collision(existing: Structure, root: Path) -> ProtocolError:
    path = str(root / existing.relative_path)
    return ProtocolError(
        ErrorCode.NAMESPACE_COLLISION,
        f"A structure named '{existing.name}' already exists at {existing.relative_path}",
        {
            "existing_path": path,
            "existing_directory": existing.directory,
            "existing_cid": existing.cid,
            "existing_name": existing.name,
            "existing_status": existing.status,
        },
    )


def _claim_row(*, root: Path, row: Structure) -> Structure | None:
    """Insert the row; on a unique-constraint clash return the live row in the way."""
    try:
        with transaction.atomic():
            row.save(force_insert=True)
        return None
    except IntegrityError:
        existing = (
            Structure.objects.filter(removed_at__isnull=True)
            .filter(Q(workspace_root=str(root), slug=row.slug) | Q(cid=row.cid))
            .first()
        )
        if existing is None:  # the other row went away meanwhile: one more try
            with transaction.atomic():
                row.save(force_insert=True)
            return None
        return existing


def structure_create(
    *,
    root: Path,
    name: str,
    purpose: str = "",
    owner: str = "",
    template: str | None = None,
    cid: str | None = None,
    parent: str = "",
    project: str,
    environment: str,
    instance_id: str = "",
) -> dict[str, Any]:
    """Scaffold ``<root>/<parent>/<slug>__<ULID8>/`` with spec.yaml and the template's files."""
    try:
        name = paths.validate_name(name)
        parent_parts = paths.split_relative(parent, what="parent")
    except paths.UnsafePath as exc:
        raise _invalid(str(exc), value=exc.value) from None
    slug = slugify_name(name)
    if not slug:
        raise _invalid("'name' must contain at least one letter or digit", field="name")
    purpose = _check_text("purpose", purpose or "", MAX_PURPOSE)
    owner = _check_text("owner", owner or "", MAX_OWNER)
    templates = load_templates()
    template = template or DEFAULT_TEMPLATE
    if template not in templates:
        raise _invalid(
            f"Unknown template '{template[:64]}'; known templates: {', '.join(templates)}",
            field="template",
            known=list(templates),
        )
    cid = _resolve_cid(cid, project=project, environment=environment)
    parts = parse_cid(cid)
    assert parts is not None  # _resolve_cid made it or checked it
    directory = f"{slug}__{ulid8(parts['ulid'])}"
    created = timezone.now().replace(microsecond=0)
    context = {
        "name": name,
        "slug": slug,
        "module": module_name(slug),
        "class_name": class_name(slug),
        "cid": cid,
        "purpose": purpose,
        "owner": owner or "unassigned",
        "created": created.isoformat().replace("+00:00", "Z"),
        "template": template,
    }
    try:
        files = render(templates[template], context)
    except paths.UnsafePath as exc:
        raise _invalid(f"Template '{template}' renders an unsafe file name: {exc}") from None
    spec = {
        "name": name,
        "cid": cid,
        "purpose": purpose,
        "owner": owner,
        "created": context["created"],
        "template": template,
        "directory": directory,
    }
    row = Structure(
        cid=cid,
        name=name,
        slug=slug,
        workspace_root=str(root),
        parent="/".join(parent_parts),
        directory=directory,
        template=template,
        purpose=purpose,
        owner=owner,
        files=[rel for rel, _ in files] + [SPEC_FILE],
        created_at=created,
        instance_id=instance_id,
    )
    existing = _claim_row(root=root, row=row)
    if existing is not None:
        if existing.cid == cid and existing.slug == slug and existing.status == Structure.Status.READY:
            # The same request again (a client or the naming agent retrying
            # after a lost answer, same CID): answer with what exists.
            return {**structure_to_dict(existing), "created": False}
        raise _collision(existing, root)
    try:
        _write_folder(
            root=root,
            parent_parts=parent_parts,
            directory=directory,
            files=files + [(SPEC_FILE, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True).encode())],
        )
    except BaseException:
        Structure.objects.filter(pk=row.pk).delete()
        raise
    Structure.objects.filter(pk=row.pk).update(status=Structure.Status.READY)
    row.status = Structure.Status.READY
    return {**structure_to_dict(row), "created": True}


def _write_folder(*, root: Path, parent_parts: list[str], directory: str, files: list[tuple[str, bytes]]) -> None:
    root_fd = paths.open_root(root)
    try:
        try:
            parent_fd = paths.open_dir(root_fd, parent_parts, create=True)
        except paths.UnsafePath as exc:
            raise _invalid(f"'parent' is not usable: {exc}", value=exc.value) from None
        try:
            try:
                dir_fd = paths.make_dir_exclusive(parent_fd, directory)
            except paths.PathExists:
                where = root.joinpath(*parent_parts, directory)
                raise ProtocolError(
                    ErrorCode.NAMESPACE_COLLISION,
                    f"{where} already exists on disk",
                    {"existing_path": str(where), "existing_directory": directory},
                ) from None
            try:
                # spec.yaml comes last: a folder with a spec is a complete one.
                for rel, data in files:
                    paths.write_relative(dir_fd, rel, data)
            except BaseException:
                os.close(dir_fd)
                dir_fd = -1
                paths.remove_tree(parent_fd, directory)  # ours: we just made it exclusively
                raise
            finally:
                if dir_fd >= 0:
                    os.close(dir_fd)
        finally:
            os.close(parent_fd)
    finally:
        os.close(root_fd)


def structure_remove(
    *, root: Path, cid: str | None = None, directory: str | None = None, force: bool = False
) -> dict[str, Any]:
    """Remove a structure this agent created: its recorded files, then its empty folders.

    Files it did not write make it refuse (CONFLICT listing them) unless
    ``force``, which removes the whole recorded folder, still without following
    any symlink out of it.
    """
    row = structure_get(root=root, cid=cid, directory=directory)
    path = root / row.relative_path
    outcome = _remove_folder(root=root, row=row, force=force)
    updated = Structure.objects.filter(pk=row.pk, removed_at__isnull=True).update(
        status=Structure.Status.REMOVED, removed_at=timezone.now()
    )
    if not updated:
        raise ProtocolError(ErrorCode.NOT_FOUND, "The structure was removed meanwhile", {"cid": row.cid})
    return {"removed": True, "cid": row.cid, "name": row.name, "path": str(path), "directory": row.directory, **outcome}


def _remove_folder(*, root: Path, row: Structure, force: bool) -> dict[str, Any]:
    path = root / row.relative_path
    try:
        root_fd = paths.open_root(root, create=False)
    except FileNotFoundError:
        return {"missing": True}
    try:
        try:
            parent_fd = paths.open_dir(root_fd, row.parent.split("/") if row.parent else [])
        except FileNotFoundError:
            return {"missing": True}
        except paths.UnsafePath as exc:
            raise _tampered(path, exc) from None
        try:
            try:
                dir_fd = paths.open_dir(parent_fd, [row.directory])
            except FileNotFoundError:
                return {"missing": True}
            except paths.UnsafePath as exc:
                raise _tampered(path, exc) from None
            try:
                entries, _ = paths.list_tree(dir_fd, limit=10_000)
                expected = set(row.files)
                for rel in row.files:  # the directories that hold recorded files
                    parts = rel.split("/")
                    expected.update("/".join(parts[:i]) for i in range(1, len(parts)))
                unexpected = [
                    e.path
                    for e in entries
                    if e.path not in expected
                    and not (e.kind == "file" and os.path.basename(e.path).startswith(paths.TMP_PREFIX))
                ]
                if unexpected and not force:
                    raise ProtocolError(
                        ErrorCode.CONFLICT,
                        f"{path} holds files this agent did not create; pass force=true to remove them too",
                        {"path": str(path), "unexpected": unexpected[:100]},
                    )
                if not force:
                    for entry in entries:  # recorded files, and our own crash leftovers
                        if entry.kind != "dir":
                            paths.unlink_relative(dir_fd, entry.path)
                    paths.remove_empty_dirs(dir_fd)
            finally:
                os.close(dir_fd)
            if force:
                paths.remove_tree(parent_fd, row.directory)
            elif not paths.rmdir_if_empty(parent_fd, row.directory):
                raise ProtocolError(ErrorCode.CONFLICT, f"{path} could not be emptied", {"path": str(path)})
        finally:
            os.close(parent_fd)
    finally:
        os.close(root_fd)
    return {"missing": False, "removed_unexpected": unexpected if force else []}


def _tampered(path: Path, exc: paths.UnsafePath) -> ProtocolError:
    return ProtocolError(
        ErrorCode.CONFLICT,
        f"{path} is no longer a plain folder inside the workspace ({exc}); refusing to touch it",
        {"path": str(path)},
    )
