"""The struct agent's configuration (``AgentType.config`` of type "struct").

    {"workspace_root": "/srv/capabilities",   # where folders are made
     "default_project": "centerfire",         # for CIDs made here (no cid given)
     "default_environment": "dev"}

Every key is optional. ``workspace_root`` defaults to $STRUCT_WORKSPACE_ROOT
(settings.AGENTS["STRUCT_WORKSPACE_ROOT"]), else ``<project>/var/workspace``; a relative path is taken from the project
directory. Read when the agent starts, never at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.naming.validation import DEFAULT_PROJECT, project_problems
from orchestrator_common.paths import PROJECT_ROOT, VAR_DIR


class StructConfigError(ValueError):
    """AgentType.config for "struct" is unusable."""


@dataclass(frozen=True)
class StructSettings:
    workspace_root: Path
    default_project: str = DEFAULT_PROJECT
    default_environment: str = "dev"

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> StructSettings:
        from django.conf import settings

        config = config or {}
        raw = config.get("workspace_root") or settings.AGENTS["STRUCT_WORKSPACE_ROOT"] or str(VAR_DIR / "workspace")
        if not isinstance(raw, str) or "\x00" in raw:
            raise StructConfigError(f"struct config 'workspace_root' must be a path string, got {raw!r}")
        root = Path(raw).expanduser()
        if not root.is_absolute():
            root = PROJECT_ROOT / root
        # Resolved once: every containment check compares against this real path.
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        root = Path(os.path.realpath(root))
        project = config.get("default_project", DEFAULT_PROJECT)
        if not isinstance(project, str) or project_problems(project):
            raise StructConfigError(f"struct config 'default_project' {project!r} is not a valid project name")
        environment = config.get("default_environment", "dev")
        if not isinstance(environment, str) or project_problems(environment):
            raise StructConfigError(f"struct config 'default_environment' {environment!r} is not a valid label")
        return cls(workspace_root=root, default_project=project, default_environment=environment)
