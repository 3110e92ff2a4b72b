"""The naming agent: namespaces, capability ids, sessions, name validation.

Handlers are thin: clean input (the @action fields), call one service or
selector in a worker thread, answer. The allocation actions are not declared
idempotent (the orchestrator must not blindly re-send them); a retry is safe
only through the idempotency key, which the services store with each
allocation (the request's ``idempotency_key``, else its request id when that
is unique enough; see services.idempotency_key_for).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from agents.naming import selectors, services, validation
from agents.naming.cid import slugify_name
from agents.naming.conf import NamingSettings
from agents.naming.models import Capability
from agents.runtime.base import Agent, ErrorCode, Field, ProtocolError, RequestContext, action

logger = logging.getLogger(__name__)

_PROJECT = Field("project", str, max_length=40, help="Defaults to the configured default project.")
_ENVIRONMENT_OPTIONAL = Field(
    "environment", str, max_length=40, help="One of the configured environments; defaults to the default environment."
)


class NamingAgent(Agent):
    agent_type = "naming"

    def __init__(self, instance_id: str, config: dict[str, Any] | None = None):
        super().__init__(instance_id, config)
        # Parsed now so a bad AgentType.config stops the agent at start, loudly.
        self.settings = NamingSettings.from_config(self.config)

    async def setup(self) -> None:
        await super().setup()
        logger.info(
            "naming agent %s: environments %s, default project %r",
            self.instance_id,
            list(self.settings.environments),
            self.settings.default_project,
        )

    def _key(self, ctx: RequestContext) -> str | None:
        return services.idempotency_key_for(idempotency_key=ctx.idempotency_key, request_id=ctx.request_id)

    def _origin(self, ctx: RequestContext) -> dict[str, Any]:
        return {
            "idempotency_key": self._key(ctx),
            "interface": ctx.interface or "",
            "allocated_by": self.instance_id,
            "settings": self.settings,
        }

    # --- allocations ------------------------------------------------------------------
    @action(
        fields=[
            Field("environment", str, required=True, max_length=40, help="One of the configured environments."),
            _PROJECT,
            Field(
                "namespace",
                str,
                max_length=200,
                help="An explicit name <project>.<environment>.<name>; NAMESPACE_COLLISION if it exists.",
            ),
            Field("description", str, default="", max_length=500),
        ],
        description="Allocate <project>.<environment>.ns<N> (the next N) or an explicit namespace, with a CID.",
    )
    def allocate_namespace(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        allocation = services.namespace_allocate(
            environment=data["environment"],
            project=data["project"],
            namespace=data["namespace"],
            description=data["description"],
            **self._origin(ctx),
        )
        return selectors.namespace_answer(allocation.obj)

    @action(
        fields=[
            Field(
                "domain",
                str,
                required=True,
                max_length=validation.DOMAIN_MAX_LENGTH,
                help="Capability domain, e.g. AUTH (any case; stored in capitals).",
            ),
            Field("name", str, required=True, max_length=100, help="Human name; the slug is made from it."),
            Field("slug", str, max_length=48, help="Folder slug; defaults to the slugified name."),
            Field("purpose", str, default="", max_length=1000),
            Field("template", str, default="", max_length=100, help="Struct template for the scaffold."),
            Field(
                "scaffold",
                bool,
                default=False,
                help="Ask the struct agent to create the folder; the answer's 'path' is where.",
            ),
            _PROJECT,
            _ENVIRONMENT_OPTIONAL,
        ],
        description="Allocate CAP-<DOMAIN>-<N>, a CID and a folder name <slug>__<ULID8>; optionally scaffold it.",
    )
    async def allocate_capability(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        # async because the scaffold step awaits another agent; the ORM work
        # still runs in worker threads through run_blocking.
        key = self._key(ctx)
        if data["scaffold"]:
            first = await self.run_blocking(partial(selectors.capability_get_by_key, key=key)) if key else None
            if first is None or not first.path:
                # Before a number is spent: struct must answer and know the template.
                await self._check_struct(data["template"], ctx)
        allocation = await self.run_blocking(
            partial(
                services.capability_allocate,
                domain=data["domain"],
                name=data["name"],
                slug=data["slug"],
                purpose=data["purpose"],
                template=data["template"],
                scaffold=data["scaffold"],
                project=data["project"],
                environment=data["environment"],
                **self._origin(ctx),
            )
        )
        capability = allocation.obj
        # A replay whose first attempt could not scaffold tries again, so a
        # retry with the same key converges on a capability with its folder.
        if capability.scaffold and not capability.path:
            path = await self._scaffold(capability, ctx)
            capability = await self.run_blocking(
                partial(services.capability_record_path, capability_id=capability.capability_id, path=path)
            )
        return selectors.capability_answer(capability)

    async def _call_struct(self, action_name: str, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """struct's response frame; an unreachable struct becomes an error frame too."""
        try:
            return await ctx.call_agent("struct", action_name, data)
        except ProtocolError as exc:
            return exc.to_frame(ctx.request_id)

    async def _check_struct(self, template: str, ctx: RequestContext) -> None:
        response = await self._call_struct("list_templates", {}, ctx)
        if response.get("status") != "success":
            error = response.get("error") or {}
            raise ProtocolError(
                _code_of(error),
                "scaffold requested but the struct agent cannot take it "
                f"(nothing was allocated): {error.get('message', '')}",
                {"struct_error": error},
            )
        known = [
            t["name"]
            for t in (response.get("data") or {}).get("templates", [])
            if isinstance(t, dict) and isinstance(t.get("name"), str)
        ]
        if template and template not in known:
            raise ProtocolError(
                ErrorCode.VALIDATION_ERROR,
                f"Unknown template {template!r}; known templates: {', '.join(known)}",
                {"field": "template", "known": known},
            )

    async def _scaffold(self, capability: Capability, ctx: RequestContext) -> str:
        # struct names the folder <slugify(name)>__<last 8 of the CID's ULID>:
        # give it a name that slugifies to our slug, so the folder is ours.
        name = capability.name if slugify_name(capability.name) == capability.slug else capability.slug
        request: dict[str, Any] = {"name": name, "cid": capability.cid, "purpose": capability.purpose}
        if capability.template:
            request["template"] = capability.template
        response = await self._call_struct("create_structure", request, ctx)
        data = response.get("data") if response.get("status") == "success" else None
        if isinstance(data, dict) and data.get("path"):
            return str(data["path"])
        error = response.get("error") or {"code": "INTERNAL_ERROR", "message": "struct answered without a path"}
        raise ProtocolError(
            _code_of(error),
            f"Capability {capability.capability_id} was allocated but its folder could not be created: "
            f"{error.get('message', '')}",
            {"capability": selectors.capability_answer(capability), "struct_error": error},
        )

    @action(
        fields=[
            _PROJECT,
            _ENVIRONMENT_OPTIONAL,
            Field("ttl_s", int, min_value=1, max_value=services.SESSION_MAX_TTL_S, help="Seconds until it expires."),
            Field("metadata", dict, help="Free-form JSON object (at most 8 KiB)."),
        ],
        description="Allocate a session id ses_<ULID> and its CID.",
    )
    def allocate_session(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        allocation = services.session_allocate(
            project=data["project"],
            environment=data["environment"],
            ttl_s=data["ttl_s"],
            metadata=data["metadata"],
            **self._origin(ctx),
        )
        return selectors.session_answer(allocation.obj)

    # --- reads ----------------------------------------------------------------------------
    @action(
        fields=[
            Field("name", str, required=True, max_length=1000),
            Field(
                "kind",
                str,
                choices=tuple(validation.NAME_KINDS),
                help="What the name is; guessed from its shape when left out.",
            ),
        ],
        idempotent=True,
        description="Check a name against the naming rules (and whether it is taken); stores nothing.",
    )
    def validate_name(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        name = data["name"]
        kind = data["kind"] or guess_kind(name)
        problems = validation.name_problems(kind, name, self.settings.environments)
        answer: dict[str, Any] = {"name": name, "kind": kind, "valid": not problems, "problems": problems}
        if kind == "namespace" and not problems and validation.is_sequenced_namespace(name):
            answer["sequenced"] = True
        if not problems:
            exists = selectors.name_exists(kind=kind, name=name)
            if exists is not None:
                answer["exists"] = exists
        return answer

    @action(
        fields=[
            _PROJECT,
            Field("environment", str, max_length=40),
            Field("prefix", str, max_length=200, help="Only names starting with this."),
            Field("limit", int, default=selectors.DEFAULT_PAGE_SIZE, min_value=1, max_value=selectors.MAX_PAGE_SIZE),
            Field("offset", int, default=0, min_value=0),
        ],
        idempotent=True,
        description="Namespaces in allocation order, filtered by project/environment, paginated.",
    )
    def list_namespaces(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        page = selectors.namespace_list(
            project=data["project"],
            environment=data["environment"],
            prefix=data["prefix"],
            limit=data["limit"],
            offset=data["offset"],
        )
        return page.as_dict("namespaces")


def _code_of(error: dict[str, Any]) -> ErrorCode:
    try:
        return ErrorCode(error.get("code", ""))
    except ValueError:
        return ErrorCode.INTERNAL_ERROR


def guess_kind(name: str) -> str:
    """The kind a bare name most likely is, from its shape."""
    if name.startswith("cid:"):
        return "cid"
    if name.startswith("CAP-"):
        return "capability"
    if name.startswith("ses_"):
        return "session"
    if "." in name:
        return "namespace"
    if "__" in name:
        return "directory"
    return "slug"
