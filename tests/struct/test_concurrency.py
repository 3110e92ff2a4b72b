from __future__ import annotations

import asyncio
from pathlib import Path

from agents import protocol


def test_concurrent_creates_of_one_name_make_exactly_one_folder(struct, workspace):
    async def race():
        requests = [
            protocol.normalize_request(
                {"action": "create_structure", "data": {"name": "Contended"}}, default_agent="struct"
            )
            for _ in range(8)
        ]
        return await asyncio.gather(*(struct.agent.handle(r) for r in requests))

    frames = asyncio.run(race())
    winners = [f for f in frames if f["status"] == "success"]
    losers = [f for f in frames if f["status"] == "error"]
    assert len(winners) == 1, frames
    assert {f["error"]["code"] for f in losers} == {"NAMESPACE_COLLISION"}
    assert all(
        f["error"]["details"]["existing_path"] == winners[0]["data"]["path"]
        for f in losers
        if f["error"]["details"].get("existing_status") == "ready"
    )
    folders = [p for p in workspace.iterdir() if p.name.startswith("contended__")]
    assert folders == [Path(winners[0]["data"]["path"])]
