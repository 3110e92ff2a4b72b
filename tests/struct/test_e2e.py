"""struct through the orchestrator: real processes, real sockets, a private workspace root."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def workspace_root():
    root = Path(tempfile.mkdtemp(prefix="orch-ws-", dir="/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def system(module_system_factory, workspace_root):
    system = module_system_factory(env={"STRUCT_WORKSPACE_ROOT": str(workspace_root)})
    system.start_agent("struct")
    return system


def test_create_describe_and_remove_through_the_orchestrator(system, workspace_root):
    created = system.request(
        "struct", "create_structure", {"name": "Payments", "purpose": "Take money", "template": "python-package"}
    )
    assert created["status"] == "success", created
    assert created["transport"] == "socket"
    folder = Path(created["data"]["path"])
    assert folder.parent == workspace_root.resolve()
    assert yaml.safe_load((folder / "spec.yaml").read_text())["purpose"] == "Take money"

    described = system.request("struct", "describe_structure", {"directory": created["data"]["directory"]})
    assert described["status"] == "success" and described["data"]["spec"]["name"] == "Payments"

    again = system.request("struct", "create_structure", {"name": "payments"})
    assert again["status"] == "error" and again["error"]["code"] == "NAMESPACE_COLLISION"
    assert again["error"]["details"]["existing_path"] == str(folder)

    listed = system.request("struct", "list_structures", {})
    assert [s["cid"] for s in listed["data"]["structures"]] == [created["data"]["cid"]]

    removed = system.request("struct", "remove_structure", {"cid": created["data"]["cid"]})
    assert removed["status"] == "success" and not folder.exists()


def test_list_templates_and_unknown_template_through_the_orchestrator(system):
    templates = system.request("struct", "list_templates")
    names = [t["name"] for t in templates["data"]["templates"]]
    assert {"python-module", "python-package", "markdown-spec"} <= set(names)
    frame = system.request("struct", "create_structure", {"name": "X", "template": "fortran"})
    assert frame["error"]["code"] == "VALIDATION_ERROR" and frame["error"]["details"]["known"] == names


@pytest.mark.parametrize("action", ["describe_structure", "remove_structure"])
@pytest.mark.parametrize("directory", ["../..", "/etc", "a__ABCDEFGH/../../x", "nul\u0000__ABCDEFGH"])
def test_unsafe_directory_values_through_the_orchestrator_are_refused(system, action, directory):
    frame = system.request("struct", action, {"directory": directory})
    assert frame["status"] == "error" and frame["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    "data",
    [
        {"name": "../../etc"},
        {"name": "ok", "parent": "../.."},
        {"name": "ok", "parent": "/tmp"},
        {"name": "nul\u0000"},
        {"name": "x" * 500},
        {"name": "ok", "template": "../../python-module"},
    ],
)
def test_unsafe_requests_through_the_orchestrator_are_refused(system, workspace_root, data):
    before = sorted(workspace_root.rglob("*"))
    frame = system.request("struct", "create_structure", data)
    assert frame["status"] == "error" and frame["error"]["code"] == "VALIDATION_ERROR", frame
    assert sorted(workspace_root.rglob("*")) == before


def test_a_symlink_out_of_the_root_is_refused_through_the_orchestrator(system, workspace_root, tmp_path):
    (workspace_root / "out").symlink_to(tmp_path, target_is_directory=True)
    try:
        frame = system.request("struct", "create_structure", {"name": "Linked", "parent": "out"})
        assert frame["status"] == "error" and frame["error"]["code"] == "VALIDATION_ERROR"
        assert list(tmp_path.iterdir()) == []
    finally:
        (workspace_root / "out").unlink()


def test_naming_scaffold_creates_the_folder_through_struct(system, workspace_root):
    system.start_agent("naming")
    frame = system.request(
        "naming",
        "allocate_capability",
        {
            "domain": "AUTH",
            "name": "Token Issuer",
            "purpose": "Issue tokens",
            "scaffold": True,
            "template": "markdown-spec",
            "environment": "test",
        },
    )
    assert frame["status"] == "success", frame
    path = Path(frame["data"]["path"])
    assert path.parent == workspace_root.resolve() and (path / "SPEC.md").is_file()
    spec = yaml.safe_load((path / "spec.yaml").read_text())
    assert spec["cid"] == frame["data"]["cid"]
