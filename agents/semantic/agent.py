"""The semantic agent: a concept store with TF-IDF similarity search.

Handlers are plain ``def`` (ORM and numpy work), so the runtime runs them in
worker threads and the event loop stays free. Limits come from the agent's
configuration; the wire fields carry generous outer bounds so that an
oversized value is refused before any work, with the precise limit checked in
the services.
"""

from __future__ import annotations

from typing import Any

from agents.runtime.base import Agent, Field, RequestContext, action
from agents.semantic.conf import SemanticSettings


class SemanticAgent(Agent):
    agent_type = "semantic"

    def __init__(self, instance_id: str, config: dict[str, Any] | None = None):
        super().__init__(instance_id, config)
        self.settings = SemanticSettings.from_config(self.config)

    async def setup(self) -> None:
        await super().setup()
        # Build the index before the first request so it does not pay for it.
        await self.run_blocking(_warm_index)

    @action(
        fields=[
            Field("name", str, required=True, max_length=1000),
            Field("domain", str, required=True, max_length=1000),
            Field("description", str, default="", max_length=1_000_000),
            Field("metadata", dict),
        ],
        allow_extra=False,
    )
    def store_concept(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Store a concept (name, domain, description, metadata) under a new CID."""
        from agents.semantic.services import concept_store

        return concept_store(
            name=data["name"],
            domain=data["domain"],
            description=data["description"],
            metadata=data["metadata"],
            settings=self.settings,
        )

    @action(
        fields=[
            Field(
                "concepts",
                list,
                required=True,
                max_length=500,
                help="Up to 500 objects with name, domain, description, metadata.",
            )
        ],
        allow_extra=False,
    )
    def store_concepts(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Store up to 500 concepts at once: all or none."""
        from agents.semantic.services import concept_store_many

        return concept_store_many(items=data["concepts"], settings=self.settings)

    @action(
        fields=[
            Field("domain", str, max_length=64),
            Field("name_prefix", str, max_length=200),
            Field("created_after", str, max_length=64, help="ISO 8601, inclusive"),
            Field("created_before", str, max_length=64, help="ISO 8601, exclusive"),
            Field("limit", int, default=50, min_value=1, max_value=10_000),
            Field("offset", int, default=0, min_value=0),
            Field("cursor", str, max_length=200, help="next_cursor of the previous page"),
        ],
        idempotent=True,
        allow_extra=False,
    )
    def query_concepts(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Concepts filtered by domain, name prefix and created time; paged (offset or cursor)."""
        from agents.semantic.selectors import concept_query

        return concept_query(
            domain=data["domain"],
            name_prefix=data["name_prefix"],
            created_after=data["created_after"],
            created_before=data["created_before"],
            limit=data["limit"],
            offset=data["offset"],
            cursor=data["cursor"],
            settings=self.settings,
        )

    @action(
        fields=[
            Field("query", str, required=True, max_length=100_000),
            Field("top_k", int, default=10, min_value=1, max_value=10_000),
            Field("domain", str, max_length=64),
            Field("min_score", float, default=0.0, min_value=0.0, max_value=1.0),
        ],
        idempotent=True,
        allow_extra=False,
    )
    def semantic_similarity(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """The stored concepts most similar to a text, with cosine scores in [0, 1]."""
        from agents.semantic.selectors import concept_similar

        return concept_similar(
            query=data["query"],
            top_k=data["top_k"],
            domain=data["domain"],
            min_score=data["min_score"],
            settings=self.settings,
        )

    @action(fields=[Field("cid", str, required=True, max_length=200)], idempotent=True, allow_extra=False)
    def get_concept(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """One concept by CID."""
        from agents.semantic.selectors import concept_get

        return concept_get(cid=data["cid"])

    @action(fields=[Field("cid", str, required=True, max_length=200)], allow_extra=False)
    def delete_concept(self, data: dict[str, Any], ctx: RequestContext) -> dict[str, Any]:
        """Delete a concept by CID (it leaves the similarity index too)."""
        from agents.semantic.services import concept_delete

        return concept_delete(cid=data["cid"])


def _warm_index() -> None:
    from agents.semantic.index import index_cache

    index_cache().current()
