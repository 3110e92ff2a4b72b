"""The naming agent's configuration (``AgentType.config`` of type "naming"). Pure.

    {"environments": ["dev", "test", "prod"],   # allowed environments
     "default_project": "centerfire",           # when a request names none
     "default_environment": "dev"}              # capabilities and sessions only

Every key is optional. A bad value fails loudly when the agent starts rather
than producing odd names later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.naming.validation import DEFAULT_ENVIRONMENTS, DEFAULT_PROJECT, environment_problems, project_problems


class NamingConfigError(ValueError):
    """AgentType.config for "naming" is unusable."""


@dataclass(frozen=True)
class NamingSettings:
    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS
    default_project: str = DEFAULT_PROJECT
    default_environment: str = DEFAULT_ENVIRONMENTS[0]

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> NamingSettings:
        config = config or {}
        raw_envs = config.get("environments", list(DEFAULT_ENVIRONMENTS))
        if not isinstance(raw_envs, (list, tuple)) or not raw_envs or not all(isinstance(e, str) for e in raw_envs):
            raise NamingConfigError(
                f"naming config 'environments' must be a non-empty list of strings, got {raw_envs!r}"
            )
        environments = tuple(dict.fromkeys(raw_envs))  # de-duplicated, order kept
        for env in environments:
            if problems := environment_problems(env, environments):
                raise NamingConfigError(f"naming config 'environments': {'; '.join(problems)}")
        project = config.get("default_project", DEFAULT_PROJECT)
        if not isinstance(project, str) or (problems := project_problems(project)):
            raise NamingConfigError(f"naming config 'default_project' {project!r} is not a valid project name")
        default_env = config.get("default_environment", environments[0])
        if default_env not in environments:
            raise NamingConfigError(
                f"naming config 'default_environment' {default_env!r} is not among {list(environments)}"
            )
        return cls(environments=environments, default_project=project, default_environment=default_env)
