"""The manager agent: the registry's live picture, heartbeats, collisions, process control.

Read actions (list_agents, agent_status, check_collisions) and heartbeat are
open to every caller; start_agent / stop_agent / restart_agent change what
runs, so they need a control token (data.token) whose hash is in the
manager's config (``manage.py manager_token`` creates one).
"""

from __future__ import annotations

import os
import socket
from typing import Any

from django.utils import timezone

from agents.manager import control, live
from agents.manager.conf import ManagerSettings, manager_config_load, manager_settings
from agents.manager.supervisor import SupervisorClient
from agents.manager.tokens import token_matches
from agents.runtime.base import Agent, ErrorCode, Field, ProtocolError, RequestContext, action

_CONTROL_FIELDS = [
    Field(
        "name",
        str,
        required=True,
        max_length=200,
        help="agent type (every process of it), process (naming-1, agents:naming-1) or group (agents)",
    ),
    Field("token", str, max_length=200, help="process-control token"),
    Field("wait", bool, default=True, help="answer after the process is up (start) or down (stop)"),
]


class ManagerAgent(Agent):
    agent_type = "manager"
    # Process control waits on supervisor for seconds; keep threads for heartbeats.
    blocking_workers = 8

    def __init__(self, instance_id: str, config: dict[str, Any] | None = None):
        super().__init__(instance_id, config)
        self.settings: ManagerSettings | None = None
        self._status_client: Any = None  # agents.client.AsyncClient, when the socket route is absent

    async def setup(self) -> None:
        await super().setup()
        self.settings = manager_settings(self.config)

    async def teardown(self) -> None:
        if self._status_client is not None:
            await self._status_client.close()
            self._status_client = None
        await super().teardown()

    @property
    def ms(self) -> ManagerSettings:
        if self.settings is None:  # handlers called without setup (tests, one-off use)
            self.settings = manager_settings(self.config)
        return self.settings

    # --- the live picture ------------------------------------------------------------
    async def _orchestrator_status(self, ctx: RequestContext) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        try:
            if self.caller is not None:
                frame = await ctx.call_agent("orchestrator", "status", {}, live.ORCHESTRATOR_STATUS_TIMEOUT_MS)
            else:  # Redis-only manager: ask over the client socket instead.
                if self._status_client is None:
                    from agents.client import AsyncClient

                    self._status_client = await AsyncClient.connect()
                frame = await self._status_client.request(
                    "orchestrator", "status", {}, timeout_ms=live.ORCHESTRATOR_STATUS_TIMEOUT_MS
                )
        except Exception as exc:  # the orchestrator being down is part of the picture
            return live.status_from_frame(None, f"{type(exc).__name__}: {exc}")
        return live.status_from_frame(frame)

    def _picture(
        self, status: dict[str, Any] | None, status_info: dict[str, Any], agent_type: str | None = None
    ) -> dict[str, Any]:
        processes, supervisor_info = live.supervisor_snapshot(self.ms)
        return live.agents_picture(
            ms=self.ms,
            now=timezone.now(),
            status=status,
            status_info=status_info,
            processes=processes,
            supervisor_info=supervisor_info,
            agent_type=agent_type,
        )

    @action(
        idempotent=True,
        description="Every agent type and instance: supervisor state, pid, uptime, last heartbeat, connected or not.",
    )
    async def list_agents(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        status, info = await self._orchestrator_status(ctx)
        return await self.run_blocking(self._picture, status, info)

    @action(
        idempotent=True,
        fields=[Field("agent_type", str, required=True, max_length=40), Field("instance", str, max_length=100)],
        description="One agent type (or one of its instances) from the live picture.",
    )
    async def agent_status(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        status, info = await self._orchestrator_status(ctx)
        picture = await self.run_blocking(self._picture, status, info, data["agent_type"])
        if not picture["types"]:
            raise ProtocolError(
                ErrorCode.NOT_FOUND, f"No agent type '{data['agent_type']}'", {"agent_type": data["agent_type"]}
            )
        kind = picture["types"][0]
        result = {
            "type": kind,
            "collisions": picture["collisions"],
            "supervisor": picture["supervisor"],
            "orchestrator": picture["orchestrator"],
            "stale_after_s": picture["stale_after_s"],
        }
        if data.get("instance"):
            found = [i for i in kind["instances"] if i["instance"] == data["instance"]]
            if not found:
                raise ProtocolError(
                    ErrorCode.NOT_FOUND,
                    f"No instance '{data['instance']}' of '{kind['name']}'",
                    {
                        "agent_type": kind["name"],
                        "instance": data["instance"],
                        "instances": [i["instance"] for i in kind["instances"]],
                    },
                )
            result["instance"] = found[0]
        return result

    @action(idempotent=True, description="Instance ids claimed by more than one live process.")
    async def check_collisions(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        status, _info = await self._orchestrator_status(ctx)
        found = await self.run_blocking(self._collisions, status)
        return {
            "collisions": found,
            "count": len(found),
            "stale_after_s": self.ms.stale_after_s,
            "orchestrator_checked": status is not None,
        }

    def _collisions(self, status: dict[str, Any] | None) -> list[dict[str, Any]]:
        from agents.manager.selectors import collisions_find

        return collisions_find(now=timezone.now(), stale_after_s=self.ms.stale_after_s, orchestrator_status=status)

    # --- heartbeats ---------------------------------------------------------------------
    @action(
        idempotent=True,
        fields=[
            Field("agent_type", str, required=True, max_length=40),
            Field("instance", str, required=True, max_length=100),
            Field("pid", int, required=True, min_value=1),
            Field("transports", list, default=[], max_length=10),
            Field("host", str, default="", max_length=255),
        ],
        description="An agent reports it is alive (sent by the runner every AGENT_HEARTBEAT_INTERVAL_S).",
    )
    def heartbeat(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        from agents.manager.selectors import collisions_find
        from agents.manager.services import instance_heartbeat
        from agents.models import AgentType

        now = timezone.now()
        host = data["host"] if data["host"] not in ("", socket.gethostname()) else ""
        try:
            instance_heartbeat(
                agent_type=data["agent_type"],
                instance_id=data["instance"],
                pid=data["pid"],
                host=host,
                transports=[str(t) for t in data["transports"]],
                now=now,
            )
        except AgentType.DoesNotExist:
            raise ProtocolError(
                ErrorCode.NOT_FOUND, f"No agent type '{data['agent_type']}'", {"agent_type": data["agent_type"]}
            ) from None
        mine = [
            c
            for c in collisions_find(now=now, stale_after_s=self.ms.stale_after_s)
            if c["agent_type"] == data["agent_type"] and c["instance"] == data["instance"]
        ]
        return {
            "recorded": True,
            "stale_after_s": self.ms.stale_after_s,
            "collision": bool(mine),
            "claimants": mine[0]["claimants"] if mine else [],
        }

    # --- process control ------------------------------------------------------------------
    def _authorise(self, data: dict[str, Any]) -> None:
        hashes = manager_config_load().get("control_tokens") or []
        if not token_matches(data.get("token"), hashes):
            reason = (
                "a valid control token (data.token) is required"
                if hashes
                else "no control token is configured (create one with: manage.py manager_token)"
            )
            raise ProtocolError(ErrorCode.UNAUTHORIZED, f"Process control needs authorisation: {reason}")

    def _control(self, operation: str, data: dict[str, Any]) -> dict[str, Any]:
        self._authorise(data)
        client = SupervisorClient(self.ms.supervisor_socket, timeout=self.ms.supervisor_timeout_s)
        return control.process_control(
            operation=operation,
            name=data["name"],
            client=client,
            groups=self.ms.controllable_groups,
            wait=data["wait"],
            self_pid=os.getpid(),
        )

    @action(fields=_CONTROL_FIELDS, description="Start agent processes through supervisor (needs a token).")
    def start_agent(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return self._control("start", data)

    @action(fields=_CONTROL_FIELDS, description="Stop agent processes through supervisor (needs a token).")
    def stop_agent(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return self._control("stop", data)

    @action(fields=_CONTROL_FIELDS, description="Restart agent processes through supervisor (needs a token).")
    def restart_agent(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        return self._control("restart", data)
