from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agents.struct.agent import StructAgent
from tests.support.direct import Caller


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return tmp_path / "workspace"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the workspace that no request may touch."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "precious.txt").write_text("keep me")
    return path


@pytest.fixture
def struct(transactional_db, workspace: Path):
    # transactional_db: handlers run in worker threads with their own DB
    # connections, so the data must really be committed.
    agent = StructAgent("STRUCT-TEST-1", {"workspace_root": str(workspace)})
    asyncio.run(agent.setup())
    yield Caller(agent)
    asyncio.run(agent.teardown())
