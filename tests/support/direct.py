"""Calling an agent's ``handle()`` directly, as a transport would, without processes.

Handler tests use it to check behaviour against the real database quickly;
the end-to-end tests cover the same actions through the orchestrator.
"""

from __future__ import annotations

import asyncio
from typing import Any

from agents import protocol
from agents.runtime.base import Agent


class Caller:
    """``caller(action, **data)`` -> response frame; ``ok`` / ``err`` assert the outcome."""

    def __init__(self, agent: Agent):
        self.agent = agent

    def __call__(self, action: str, **data: Any) -> dict[str, Any]:
        request = protocol.normalize_request({"action": action, "data": data}, default_agent=self.agent.agent_type)
        return asyncio.run(self.agent.handle(request))

    def ok(self, action: str, **data: Any) -> dict[str, Any]:
        frame = self(action, **data)
        assert frame["status"] == "success", frame
        return frame["data"]

    def err(self, action: str, **data: Any) -> dict[str, Any]:
        frame = self(action, **data)
        assert frame["status"] == "error", frame
        return frame["error"]
