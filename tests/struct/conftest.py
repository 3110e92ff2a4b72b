from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agents import protocol
from agents.struct.agent import StructAgent


class Caller:
    """Sends requests straight to an agent's handle(), as a transport would."""

    def __init__(self, agent: StructAgent):
        self.agent = agent

    def __call__(self, action: str, **data: Any) -> dict[str, Any]:
        request = protocol.normalize_request({"action": action, "data": data}, default_agent="struct")
        return asyncio.run(self.agent.handle(request))

    def ok(self, action: str, **data: Any) -> dict[str, Any]:
        frame = self(action, **data)
        assert frame["status"] == "success", frame
        return frame["data"]

    def err(self, action: str, **data: Any) -> dict[str, Any]:
        frame = self(action, **data)
        assert frame["status"] == "error", frame
        return frame["error"]


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
