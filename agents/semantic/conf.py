"""The semantic agent's configuration (``AgentType.config`` of type "semantic").

    {"default_project": "centerfire", "default_environment": "dev",  # concept CIDs
     "max_description": 10000,   # characters
     "max_query": 1000,          # characters of a similarity query
     "max_top_k": 100,           # results of one similarity query
     "max_page": 500,            # concepts in one query_concepts page
     "max_metadata_bytes": 16384}

Every key is optional; bad values fail when the agent starts.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from agents.naming.validation import DEFAULT_PROJECT, project_problems


class SemanticConfigError(ValueError):
    """AgentType.config for "semantic" is unusable."""


@dataclass(frozen=True)
class SemanticSettings:
    default_project: str = DEFAULT_PROJECT
    default_environment: str = "dev"
    max_description: int = 10_000
    max_query: int = 1_000
    max_top_k: int = 100
    max_page: int = 500
    max_metadata_bytes: int = 16_384

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> SemanticSettings:
        config = config or {}
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in config:
                continue
            value = config[f.name]
            if f.type == "int":
                if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000_000:
                    raise SemanticConfigError(f"semantic config '{f.name}' must be a positive integer, got {value!r}")
            elif not isinstance(value, str) or project_problems(value):
                raise SemanticConfigError(f"semantic config '{f.name}' {value!r} is not a valid label")
            values[f.name] = value
        return cls(**values)
