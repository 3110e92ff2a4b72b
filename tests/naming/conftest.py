from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from agents import protocol
from agents.naming.agent import NamingAgent
from agents.naming.conf import NamingSettings

SETTINGS = NamingSettings()


@pytest.fixture
def project() -> str:
    """A project name no other test uses, so sequences start at 1."""
    return f"p{uuid.uuid4().hex[:10]}"


class AgentHarness:
    """Calls the agent's real ``handle`` (as a transport would), one event loop per call."""

    def __init__(self, agent: NamingAgent):
        self.agent = agent
        self.loop = asyncio.new_event_loop()

    def handle(self, frame: dict[str, Any]) -> dict[str, Any]:
        request = protocol.normalize_request(frame, default_agent="naming")
        return self.loop.run_until_complete(self.agent.handle(request))

    def gather(self, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
        requests = [protocol.normalize_request(f, default_agent="naming") for f in frames]

        async def run() -> list[dict[str, Any]]:
            return await asyncio.gather(*(self.agent.handle(r) for r in requests))

        return self.loop.run_until_complete(run())

    def close(self) -> None:
        self.loop.run_until_complete(self.agent.teardown())
        self.loop.close()


@pytest.fixture
def make_agent():
    harnesses: list[AgentHarness] = []

    def make(config: dict[str, Any] | None = None, instance_id: str = "NAMING-TEST") -> AgentHarness:
        harness = AgentHarness(NamingAgent(instance_id, config))
        harnesses.append(harness)
        return harness

    yield make
    for harness in harnesses:
        harness.close()
