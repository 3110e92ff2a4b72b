"""No request can write, read or delete outside the workspace root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize(
    "name",
    [
        "../escape",
        "a/../../b",
        "/etc/passwd",
        "sub/dir",
        "back\\slash",
        "..",
        ".",
        "nul\x00byte",
        "x" * 101,
        "",
    ],
)
def test_unsafe_names_are_rejected_and_nothing_is_written(struct, workspace, outside, name):
    error = struct.err("create_structure", name=name)
    assert error["code"] == "VALIDATION_ERROR"
    assert not workspace.exists() or _tree(workspace) == []
    assert _tree(outside) == ["precious.txt"]


@pytest.mark.parametrize(
    "parent",
    [
        "../outside",
        "a/../../outside",
        "/tmp",
        "~/x",
        "team/../..",
        "a//b",
        "a/./b",
        ".hidden",
        "nul\x00",
        "x" * 101,
        "/".join(["abc"] * 70),
        "C:/windows",
        "back\\slash",
    ],
)
def test_unsafe_parents_are_rejected(struct, workspace, outside, parent):
    error = struct.err("create_structure", name="Fine Name", parent=parent)
    assert error["code"] == "VALIDATION_ERROR"
    assert _tree(outside) == ["precious.txt"]
    assert not any(workspace.rglob("fine-name__*")) if workspace.exists() else True


@pytest.mark.parametrize("template", ["../python-module", "/etc", "python-module/../../x", "nul\x00", "x" * 300])
def test_unsafe_template_names_are_rejected(struct, template):
    assert struct.err("create_structure", name="T", template=template)["code"] == "VALIDATION_ERROR"


def test_a_symlink_inside_the_root_pointing_out_is_not_followed(struct, workspace, outside):
    workspace.mkdir(exist_ok=True)
    (workspace / "escape").symlink_to(outside, target_is_directory=True)
    error = struct.err("create_structure", name="Through Link", parent="escape")
    assert error["code"] == "VALIDATION_ERROR" and "symlink" in error["message"]
    error = struct.err("create_structure", name="Deeper", parent="escape/inner")
    assert error["code"] == "VALIDATION_ERROR"
    assert _tree(outside) == ["precious.txt"]


def test_describe_lists_a_planted_symlink_but_never_reads_through_it(struct, outside):
    data = struct.ok("create_structure", name="Victim")
    folder = Path(data["path"])
    (folder / "spec.yaml").unlink()
    (folder / "spec.yaml").symlink_to(outside / "precious.txt")
    described = struct.ok("describe_structure", cid=data["cid"])
    assert described["spec"] is None and "symlink" in described["spec_error"]
    assert {"path": "spec.yaml", "kind": "symlink", "size": 0} in described["entries"]
    assert "keep me" not in repr(described)


def test_remove_unlinks_a_planted_symlink_and_leaves_its_target(struct, outside):
    data = struct.ok("create_structure", name="Victim Two", template="python-package")
    folder = Path(data["path"])
    core = folder / "victim_two" / "core.py"
    core.unlink()
    core.symlink_to(outside / "precious.txt")
    struct.ok("remove_structure", cid=data["cid"])
    assert not folder.exists()
    assert (outside / "precious.txt").read_text() == "keep me"


def test_forced_remove_does_not_descend_into_a_symlinked_directory(struct, outside):
    data = struct.ok("create_structure", name="Victim Three")
    folder = Path(data["path"])
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    assert struct.err("remove_structure", cid=data["cid"])["code"] == "CONFLICT"
    struct.ok("remove_structure", cid=data["cid"], force=True)
    assert not folder.exists()
    assert _tree(outside) == ["precious.txt"]


def test_a_structure_folder_swapped_for_a_symlink_is_neither_described_nor_removed(struct, outside):
    data = struct.ok("create_structure", name="Swapped")
    folder = Path(data["path"])
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)
    described = struct.ok("describe_structure", cid=data["cid"])
    assert described["exists"] is False and "symlink" in described["error"]
    error = struct.err("remove_structure", cid=data["cid"], force=True)
    assert error["code"] == "CONFLICT"
    assert _tree(outside) == ["precious.txt"] and folder.is_symlink()


@pytest.mark.parametrize(
    "directory",
    ["../outside", "/etc", "x__ABCDEFGH/../..", "nul\x00__ABCDEFGH", "a" * 150 + "__ABCDEFGH", "UPPER__ABCDEFGH"],
)
def test_describe_and_remove_reject_directory_values_that_are_not_plain_folder_names(struct, outside, directory):
    assert struct.err("describe_structure", directory=directory)["code"] == "VALIDATION_ERROR"
    assert struct.err("remove_structure", directory=directory)["code"] == "VALIDATION_ERROR"
    assert _tree(outside) == ["precious.txt"]


def test_remove_refuses_a_folder_it_did_not_create(struct, workspace):
    workspace.mkdir(exist_ok=True)
    foreign = workspace / "foreign__ABCDEFGH"
    foreign.mkdir()
    error = struct.err("remove_structure", directory="foreign__ABCDEFGH")
    assert error["code"] == "NOT_FOUND"
    assert foreign.is_dir()


def test_a_crash_mid_write_leaves_no_half_written_file(tmp_path, monkeypatch):
    # atomic_write builds the content under a temporary name: until the final
    # link the target name does not exist, and afterwards it is complete.
    from agents.struct import paths

    class Crash(Exception):
        pass

    def crashing_fsync(fd):
        raise Crash

    fd = paths.open_root(tmp_path)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(paths.os, "fsync", crashing_fsync)
            with pytest.raises(Crash):
                paths.atomic_write(fd, "spec.yaml", b"name: x\n" * 1000)
        assert list(tmp_path.iterdir()) == []
        paths.atomic_write(fd, "spec.yaml", b"name: x\n")
        with pytest.raises(paths.PathExists):
            paths.atomic_write(fd, "spec.yaml", b"name: other\n")
        assert (tmp_path / "spec.yaml").read_bytes() == b"name: x\n"
    finally:
        os.close(fd)


@pytest.mark.parametrize(
    "field, value",
    [
        ("owner", "a\x00b"),
        ("purpose", "p\x00"),
        ("owner", "o" * 101),
        ("purpose", "p" * 2001),
        ("cid", "cid:a:b:c:../../x"),
    ],
)
def test_nul_bytes_and_oversized_text_fields_are_rejected(struct, workspace, field, value):
    error = struct.err("create_structure", name="Text Fields", **{field: value})
    assert error["code"] == "VALIDATION_ERROR"
    assert not workspace.exists() or not any(workspace.rglob("text-fields__*"))
