from __future__ import annotations

from pathlib import Path

import yaml

from agents.naming.cid import make_cid, parse_cid


def test_create_structure_writes_spec_and_stub_in_slug_ulid8_folder(struct, workspace):
    data = struct.ok("create_structure", name="User Auth", purpose="Log people in", owner="team-a")
    folder = Path(data["path"])
    assert folder.parent == workspace.resolve()
    assert folder.name == data["directory"]
    slug, _, suffix = data["directory"].partition("__")
    assert slug == "user-auth" and len(suffix) == 8
    spec = yaml.safe_load((folder / "spec.yaml").read_text())
    assert spec["name"] == "User Auth" and spec["purpose"] == "Log people in" and spec["owner"] == "team-a"
    assert spec["cid"] == data["cid"] and parse_cid(data["cid"])["kind"] == "structure"
    assert spec["created"].endswith("Z")
    stub = (folder / "user_auth.py").read_text()
    assert "Log people in" in stub and data["cid"] in stub
    compile(stub, "user_auth.py", "exec")  # the stub is valid Python
    assert data["created"] is True


def test_create_structure_accepts_a_given_cid_and_derives_the_folder_from_it(struct):
    cid = make_cid(project="centerfire", environment="test", kind="capability")
    data = struct.ok("create_structure", name="CAP-AUTH-1", cid=cid, purpose="p")
    assert data["cid"] == cid
    assert data["directory"] == f"cap-auth-1__{cid[-8:]}"
    assert Path(data["path"]).is_absolute() and Path(data["path"]).is_dir()


def test_repeating_a_create_with_the_same_cid_returns_the_existing_structure(struct):
    cid = make_cid(project="centerfire", environment="test", kind="capability")
    first = struct.ok("create_structure", name="Retry Me", cid=cid)
    again = struct.ok("create_structure", name="Retry Me", cid=cid)
    assert again["created"] is False and again["path"] == first["path"]


def test_creating_an_existing_name_is_a_collision_with_the_existing_path(struct):
    first = struct.ok("create_structure", name="Billing")
    (Path(first["path"]) / "mine.txt").write_text("user work")
    error = struct.err("create_structure", name="billing")  # same slug
    assert error["code"] == "NAMESPACE_COLLISION"
    assert error["details"]["existing_path"] == first["path"]
    assert (Path(first["path"]) / "mine.txt").read_text() == "user work"  # nothing overwritten


def test_a_cid_already_used_by_another_structure_is_a_collision(struct):
    cid = make_cid(project="centerfire", environment="test", kind="capability")
    first = struct.ok("create_structure", name="One", cid=cid)
    error = struct.err("create_structure", name="Two", cid=cid)
    assert error["code"] == "NAMESPACE_COLLISION" and error["details"]["existing_cid"] == cid
    assert error["details"]["existing_path"] == first["path"]


def test_a_folder_already_on_disk_is_a_collision_and_is_left_alone(struct, workspace):
    cid = make_cid(project="centerfire", environment="test", kind="capability")
    squatter = workspace / f"squat__{cid[-8:]}"
    squatter.mkdir(parents=True)
    (squatter / "theirs.txt").write_text("x")
    error = struct.err("create_structure", name="Squat", cid=cid)
    assert error["code"] == "NAMESPACE_COLLISION"
    assert error["details"]["existing_path"] == str(squatter.resolve())
    assert sorted(p.name for p in squatter.iterdir()) == ["theirs.txt"]
    # the name is not left claimed by the failed attempt
    assert struct.ok("create_structure", name="Squat")["created"] is True


def test_unknown_template_is_a_validation_error_listing_the_known_ones(struct):
    error = struct.err("create_structure", name="x", template="cobol-deck")
    assert error["code"] == "VALIDATION_ERROR"
    assert {"python-module", "python-package", "markdown-spec"} <= set(error["details"]["known"])
    assert "python-module" in error["message"]


def test_list_templates_names_each_template_with_its_files(struct):
    data = struct.ok("list_templates")
    by_name = {t["name"]: t for t in data["templates"]}
    assert by_name["python-package"]["files"] == sorted(by_name["python-package"]["files"])
    assert "{{module}}/__init__.py" in by_name["python-package"]["files"]
    assert all(t["description"] for t in data["templates"])
    assert data["default"] in by_name


def test_python_package_template_renders_names_and_files(struct):
    data = struct.ok("create_structure", name="Rate Limiter", template="python-package", purpose="Limit")
    folder = Path(data["path"])
    assert (folder / "rate_limiter" / "__init__.py").is_file()
    assert (folder / "rate_limiter" / "core.py").is_file()
    assert "from rate_limiter import run" in (folder / "tests" / "test_rate_limiter.py").read_text()
    assert set(data["files"]) == {
        "rate_limiter/__init__.py",
        "rate_limiter/core.py",
        "tests/test_rate_limiter.py",
        "spec.yaml",
    }


def test_purpose_with_quotes_cannot_break_the_python_stub(struct):
    purpose = 'ends """ here\\ and "quotes"'
    data = struct.ok("create_structure", name="Quoted", purpose=purpose)
    source = (Path(data["path"]) / "quoted.py").read_text()
    compile(source, "quoted.py", "exec")
    assert yaml.safe_load((Path(data["path"]) / "spec.yaml").read_text())["purpose"] == purpose


def test_markdown_spec_template_writes_the_purpose_into_spec_md(struct):
    data = struct.ok("create_structure", name="Design Doc", template="markdown-spec", purpose="Why and how")
    assert "Why and how" in (Path(data["path"]) / "SPEC.md").read_text()


def test_parent_puts_the_folder_in_a_sub_directory_of_the_root(struct, workspace):
    data = struct.ok("create_structure", name="Nested", parent="team-a/tools")
    assert Path(data["path"]).parent == workspace.resolve() / "team-a" / "tools"
    assert data["relative_path"] == f"team-a/tools/{data['directory']}"


def test_no_temporary_files_are_left_after_a_create(struct):
    data = struct.ok("create_structure", name="Clean", template="python-package")
    leftovers = [p for p in Path(data["path"]).rglob("*") if p.name.startswith(".tmp-")]
    assert leftovers == []


def test_missing_name_and_bad_cid_are_validation_errors(struct):
    assert struct.err("create_structure", purpose="x")["code"] == "VALIDATION_ERROR"
    assert struct.err("create_structure", name="x", cid="not-a-cid")["code"] == "VALIDATION_ERROR"
    assert struct.err("create_structure", name="!!!")["code"] == "VALIDATION_ERROR"  # empty slug
