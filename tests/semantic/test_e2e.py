"""semantic through the orchestrator: two instances on one database answer the same."""

from __future__ import annotations

import pytest

from tests.semantic.conftest import CORPUS

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(module_system_factory):
    system = module_system_factory()
    system.start_agent("semantic", "SEM-A")
    return system


def _ok(frame):
    assert frame["status"] == "success", frame
    return frame["data"]


def test_every_action_through_the_orchestrator(system):
    stored = {}
    with system.client() as client:
        for domain, name, description in CORPUS:
            frame = client.request(
                "semantic", "store_concept", {"name": name, "domain": domain, "description": description}
            )
            assert frame["transport"] == "socket"
            stored[name] = _ok(frame)
        hits = _ok(
            client.request(
                "semantic", "semantic_similarity", {"query": "authenticate a user and start a session", "top_k": 3}
            )
        )
        assert hits["results"][0]["name"] == "Login service"
        page = _ok(client.request("semantic", "query_concepts", {"domain": "auth", "name_prefix": "pass"}))
        assert [c["name"] for c in page["concepts"]] == ["Password reset"]
        got = _ok(client.request("semantic", "get_concept", {"cid": stored["Rate limiter"]["cid"]}))
        assert got["domain"] == "network"
        batch = _ok(
            client.request(
                "semantic",
                "store_concepts",
                {
                    "concepts": [
                        {
                            "name": "Session store",
                            "domain": "auth",
                            "description": "Keeps session tokens of logged in users.",
                        },
                    ]
                },
            )
        )
        assert batch["count"] == 1
        _ok(client.request("semantic", "delete_concept", {"cid": stored["Login service"]["cid"]}))
        hits = _ok(
            client.request(
                "semantic", "semantic_similarity", {"query": "authenticate a user and start a session", "top_k": 3}
            )
        )
        assert "Login service" not in [r["name"] for r in hits["results"]]
        too_long = client.request("semantic", "semantic_similarity", {"query": "q" * 5000})
        assert too_long["status"] == "error" and too_long["error"]["code"] == "VALIDATION_ERROR"


def test_a_second_instance_gives_the_same_answers(system):
    queries = ["database connections", "users forgot password", "HTTP requests per client"]
    with system.client() as client:
        before = [_ok(client.request("semantic", "semantic_similarity", {"query": q}))["results"] for q in queries]
    system.start_agent("semantic", "SEM-B")
    system.stop_agent("SEM-A")
    system.wait_instance("semantic", "SEM-A", present=False)
    with system.client() as client:
        after = [_ok(client.request("semantic", "semantic_similarity", {"query": q}))["results"] for q in queries]
    assert after == before and all(before)
