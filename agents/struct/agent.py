"""The struct agent: scaffolds capability folders under a workspace root.

Handlers are plain ``def`` (ORM and file-system work), so the runtime runs
them in worker threads and the event loop stays free.
"""

from __future__ import annotations

from typing import Any

from agents.runtime.base import Agent, Field, RequestContext, action
from agents.struct.conf import StructSettings

_CID = Field("cid", str, max_length=200, help="A CID for the structure (e.g. from naming); made here when absent.")
_DIRECTORY = Field("directory", str, max_length=200, help="The folder name <slug>__<ULID8>.")


class StructAgent(Agent):
    agent_type = "struct"

    def __init__(self, instance_id: str, config: dict[str, Any] | None = None):
        super().__init__(instance_id, config)
        self._settings: StructSettings | None = None

    async def setup(self) -> None:
        await super().setup()
        self._settings = StructSettings.from_config(self.config)

    @property
    def settings(self) -> StructSettings:
        if self._settings is None:  # used without setup() (tests, scripts)
            self._settings = StructSettings.from_config(self.config)
        return self._settings

    @action(
        fields=[
            Field("name", str, required=True, max_length=1000, help="Display name; the folder is its slug."),
            Field("purpose", str, default="", max_length=100_000),
            Field("owner", str, default="", max_length=1000),
            Field("template", str, max_length=200, help="One of list_templates (default python-module)."),
            _CID,
            Field("parent", str, default="", max_length=1000, help="Relative sub-folder of the workspace root."),
        ]
    )
    def create_structure(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Create <slug>__<ULID8>/ with spec.yaml and a stub from a template; answers with its path."""
        from agents.struct.services import structure_create

        s = self.settings
        return structure_create(
            root=s.workspace_root,
            name=data["name"],
            purpose=data["purpose"],
            owner=data["owner"],
            template=data["template"],
            cid=data["cid"],
            parent=data["parent"],
            project=s.default_project,
            environment=s.default_environment,
            instance_id=self.instance_id,
        )

    @action(idempotent=True)
    def list_templates(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """The templates create_structure accepts, with their files."""
        from agents.struct.scaffold import load_templates
        from agents.struct.services import DEFAULT_TEMPLATE

        return {"templates": [t.describe() for t in load_templates().values()], "default": DEFAULT_TEMPLATE}

    @action(fields=[_CID, _DIRECTORY], idempotent=True, allow_extra=False)
    def describe_structure(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """A structure's record, spec and files on disk (by cid or directory)."""
        from agents.struct.selectors import structure_describe

        return structure_describe(root=self.settings.workspace_root, cid=data["cid"], directory=data["directory"])

    @action(
        fields=[
            Field("limit", int, default=50, min_value=1, max_value=500),
            Field("offset", int, default=0, min_value=0),
        ],
        idempotent=True,
        allow_extra=False,
    )
    def list_structures(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Live structures under this agent's workspace root, newest first."""
        from agents.struct.selectors import structure_list

        return structure_list(root=self.settings.workspace_root, limit=data["limit"], offset=data["offset"])

    @action(
        fields=[
            _CID,
            _DIRECTORY,
            Field("force", bool, default=False, help="Also remove files this agent did not write."),
        ],
        allow_extra=False,
    )
    def remove_structure(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Remove a structure this agent created (and recorded), never anything else."""
        from agents.struct.services import structure_remove

        return structure_remove(
            root=self.settings.workspace_root, cid=data["cid"], directory=data["directory"], force=data["force"]
        )
