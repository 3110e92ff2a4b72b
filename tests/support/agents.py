"""Small agents for testing the orchestrator and the runtime (run with ``run_agent <type> --class``)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from agents.runtime.actions import Field, action
from agents.runtime.base import Agent, RequestContext


class ProbeAgent(Agent):
    """Runs as any agent type (``agent_type`` is set by the runner)."""

    agent_type = ""

    @action(
        fields=[Field("ms", int, default=0, min_value=0, max_value=600_000)],
        idempotent=False,
        description="Sleeps data.ms milliseconds, then answers with its instance and pid.",
    )
    async def slow(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await asyncio.sleep(data["ms"] / 1000)
        return {"instance": self.instance_id, "pid": os.getpid(), "slept_ms": data["ms"]}

    @action(
        fields=[Field("ms", int, default=0, min_value=0, max_value=600_000)],
        idempotent=True,
        description="Like slow, but declared idempotent (the orchestrator may re-send it).",
    )
    async def slow_idempotent(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        await asyncio.sleep(data["ms"] / 1000)
        return {"instance": self.instance_id, "pid": os.getpid(), "slept_ms": data["ms"]}

    @action(description="Blocking handler run in a worker thread.")
    def blocking(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        time.sleep(float(data.get("seconds", 0)))
        return {"thread": True, "instance": self.instance_id}

    @action(description="Always fails inside the handler.")
    async def boom(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        raise RuntimeError("boom")

    @action(description="Calls another agent through the orchestrator (ctx.call_agent).")
    async def relay(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        frame = await ctx.call_agent(data["agent"], data["action"], data.get("data") or {}, data.get("timeout_ms"))
        return {"relayed": frame}

    @action(
        fields=[Field("bytes", int, default=0, min_value=0, max_value=64 * 1024 * 1024)],
        description="Answers with data.bytes bytes of padding (to test the frame size limit).",
    )
    async def big(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {"pad": "x" * data["bytes"], "instance": self.instance_id}

    @action(description="Answers with this instance's id.")
    async def whoami(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return {"instance": self.instance_id, "pid": os.getpid()}
