from __future__ import annotations

from pathlib import Path

from agents.struct.models import Structure


def test_describe_structure_returns_spec_files_and_record(struct):
    data = struct.ok("create_structure", name="Search", purpose="Find things", owner="ana", template="python-package")
    for key in ({"cid": data["cid"]}, {"directory": data["directory"]}):
        described = struct.ok("describe_structure", **key)
        assert described["exists"] is True and described["path"] == data["path"]
        assert described["spec"]["purpose"] == "Find things" and described["spec"]["owner"] == "ana"
        files = {e["path"]: e for e in described["entries"]}
        assert files["spec.yaml"]["kind"] == "file" and files["spec.yaml"]["size"] > 0
        assert files["search"]["kind"] == "dir" and "search/core.py" in files


def test_describe_unknown_structure_is_not_found(struct):
    error = struct.err("describe_structure", directory="nothing__ABCDEFGH")
    assert error["code"] == "NOT_FOUND"
    assert struct.err("describe_structure")["code"] == "VALIDATION_ERROR"  # neither cid nor directory


def test_describe_reports_a_folder_deleted_behind_the_agents_back(struct):
    data = struct.ok("create_structure", name="Gone")
    for child in Path(data["path"]).iterdir():
        child.unlink()
    Path(data["path"]).rmdir()
    described = struct.ok("describe_structure", cid=data["cid"])
    assert described["exists"] is False and described["entries"] == []


def test_remove_structure_deletes_the_folder_and_marks_the_record(struct, workspace):
    data = struct.ok("create_structure", name="Temp", parent="area")
    removed = struct.ok("remove_structure", directory=data["directory"])
    assert removed["removed"] is True and removed["path"] == data["path"]
    assert not Path(data["path"]).exists()
    assert (workspace / "area").is_dir()  # the parent existed before only in part; it is kept
    row = Structure.objects.get(cid=data["cid"])
    assert row.status == Structure.Status.REMOVED and row.removed_at is not None
    assert struct.err("remove_structure", cid=data["cid"])["code"] == "NOT_FOUND"
    assert struct.err("describe_structure", cid=data["cid"])["code"] == "NOT_FOUND"


def test_remove_refuses_when_the_folder_holds_foreign_files_unless_forced(struct):
    data = struct.ok("create_structure", name="Shared")
    folder = Path(data["path"])
    (folder / "notes.txt").write_text("someone's work")
    error = struct.err("remove_structure", cid=data["cid"])
    assert error["code"] == "CONFLICT" and error["details"]["unexpected"] == ["notes.txt"]
    assert (folder / "spec.yaml").is_file() and (folder / "notes.txt").is_file()  # nothing removed
    forced = struct.ok("remove_structure", cid=data["cid"], force=True)
    assert forced["removed_unexpected"] == ["notes.txt"] and not folder.exists()


def test_a_name_can_be_reused_after_its_structure_was_removed(struct):
    first = struct.ok("create_structure", name="Phoenix")
    struct.ok("remove_structure", cid=first["cid"])
    second = struct.ok("create_structure", name="Phoenix")
    assert second["cid"] != first["cid"] and Path(second["path"]).is_dir()


def test_remove_of_a_folder_already_gone_still_clears_the_record(struct):
    data = struct.ok("create_structure", name="Vanished")
    for child in Path(data["path"]).iterdir():
        child.unlink()
    Path(data["path"]).rmdir()
    removed = struct.ok("remove_structure", cid=data["cid"])
    assert removed["missing"] is True
    assert struct.ok("list_structures")["total"] == 0


def test_list_structures_pages_newest_first(struct):
    for i in range(5):
        struct.ok("create_structure", name=f"Item {i}")
    page = struct.ok("list_structures", limit=2, offset=0)
    assert page["total"] == 5 and len(page["structures"]) == 2
    names = [s["name"] for s in page["structures"]] + [
        s["name"] for s in struct.ok("list_structures", limit=10, offset=2)["structures"]
    ]
    assert sorted(names) == [f"Item {i}" for i in range(5)]
    assert len(set(names)) == 5


def test_remove_only_touches_the_workspace_root_it_was_configured_with(struct, tmp_path):
    import asyncio

    from agents import protocol
    from agents.struct.agent import StructAgent

    data = struct.ok("create_structure", name="Rooted")
    other = StructAgent("STRUCT-TEST-2", {"workspace_root": str(tmp_path / "other-root")})
    request = protocol.normalize_request(
        {"action": "remove_structure", "data": {"cid": data["cid"]}}, default_agent="struct"
    )
    try:
        frame = asyncio.run(other.handle(request))
    finally:
        asyncio.run(other.teardown())
    assert frame["status"] == "error" and frame["error"]["code"] == "NOT_FOUND"
    assert Path(data["path"]).is_dir()


def test_unknown_fields_and_actions_get_structured_errors(struct):
    assert struct.err("remove_structure", cid="x", rm_rf="/")["code"] == "VALIDATION_ERROR"
    assert struct.err("format_disk")["code"] == "UNKNOWN_ACTION"


def test_bad_configuration_fails_when_the_agent_starts(tmp_path):
    import asyncio

    import pytest

    from agents.struct.agent import StructAgent
    from agents.struct.conf import StructConfigError

    agent = StructAgent("STRUCT-BAD", {"workspace_root": str(tmp_path), "default_project": "Bad Project"})
    with pytest.raises(StructConfigError):
        asyncio.run(agent.setup())


def test_a_relative_workspace_root_is_taken_from_the_project_directory():
    from agents.struct.conf import StructSettings
    from orchestrator_common.paths import PROJECT_ROOT

    settings = StructSettings.from_config({"workspace_root": "var/workspace"})
    assert settings.workspace_root == (PROJECT_ROOT / "var" / "workspace").resolve()
