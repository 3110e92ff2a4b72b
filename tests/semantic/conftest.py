from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agents.semantic.agent import SemanticAgent
from tests.support.direct import Caller

# A small fixed corpus: four topics, each described without repeating the
# words a test query uses verbatim, so only real text similarity ranks them.
CORPUS = [
    ("storage", "PostgreSQL connection pool", "Keeps pooled connections open to the PostgreSQL database server."),
    ("storage", "Schema migrations", "Applies versioned schema changes to the relational database tables."),
    ("storage", "Query result cache", "Caches the rows returned by slow database queries in memory."),
    ("auth", "Login service", "Authenticates users by password and issues session tokens."),
    ("auth", "Password reset", "Emails a one-time link to users who forgot their password."),
    ("auth", "OAuth provider", "Grants access tokens to third-party applications on behalf of users."),
    ("network", "Rate limiter", "Limits how many HTTP requests each client may send per minute."),
    ("network", "Load balancer", "Distributes incoming HTTP requests across healthy backend servers."),
    ("ml", "Image classifier", "Labels photos with the objects they show, using a convolutional neural network."),
    ("billing", "Invoice generator", "Creates monthly invoices and charges customer credit cards."),
]


def make_caller(config: dict[str, Any] | None = None) -> Caller:
    agent = SemanticAgent("SEMANTIC-TEST-1", config or {})
    asyncio.run(agent.setup())
    return Caller(agent)


@pytest.fixture
def semantic(transactional_db):
    # transactional_db: handlers run in worker threads with their own DB
    # connections, so the data must really be committed.
    caller = make_caller()
    yield caller
    asyncio.run(caller.agent.teardown())


@pytest.fixture
def corpus(semantic) -> dict[str, dict[str, Any]]:
    """The fixed corpus stored through the agent: name -> stored concept."""
    return {
        name: semantic.ok("store_concept", name=name, domain=domain, description=description)
        for domain, name, description in CORPUS
    }
