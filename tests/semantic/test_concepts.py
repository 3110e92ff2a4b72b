from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from agents.naming.cid import parse_cid
from agents.semantic.agent import SemanticAgent
from agents.semantic.models import Concept
from tests.semantic.conftest import make_caller


def test_store_concept_returns_a_concept_cid_and_the_stored_fields(semantic):
    data = semantic.ok(
        "store_concept",
        name="Token bucket",
        domain="network",
        description="Smooths bursts of traffic.",
        metadata={"owner": "ana", "tags": ["x"]},
    )
    parts = parse_cid(data["cid"])
    assert parts is not None and parts["kind"] == "concept"
    assert data["name"] == "Token bucket" and data["domain"] == "network"
    assert data["metadata"] == {"owner": "ana", "tags": ["x"]} and data["created"].endswith("Z")
    assert semantic.ok("get_concept", cid=data["cid"])["description"] == "Smooths bursts of traffic."


def test_the_same_name_in_one_domain_is_a_collision_naming_the_existing_cid(semantic):
    first = semantic.ok("store_concept", name="Ledger", domain="billing")
    error = semantic.err("store_concept", name="LEDGER", domain="billing")
    assert error["code"] == "NAMESPACE_COLLISION" and error["details"]["existing_cid"] == first["cid"]
    assert semantic.ok("store_concept", name="Ledger", domain="accounting")["cid"] != first["cid"]


def test_delete_concept_removes_it_and_a_second_delete_is_not_found(semantic):
    data = semantic.ok("store_concept", name="Temp", domain="misc")
    assert semantic.ok("delete_concept", cid=data["cid"])["deleted"] is True
    assert not Concept.objects.filter(cid=data["cid"]).exists()
    assert semantic.err("delete_concept", cid=data["cid"])["code"] == "NOT_FOUND"
    assert semantic.err("get_concept", cid=data["cid"])["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"name": "n", "domain": "d", "description": "x" * 10_001}, "description"),
        ({"name": "x" * 201, "domain": "d"}, "name"),
        ({"name": "nul\x00", "domain": "d"}, "name"),
        ({"name": "  ", "domain": "d"}, "name"),
        ({"name": "n", "domain": "Bad Domain"}, "domain"),
        ({"name": "n", "domain": "d", "metadata": {"blob": "x" * 20_000}}, "metadata"),
        ({"name": "n", "domain": "d", "metadata": ["not", "an", "object"]}, "metadata"),
        ({"name": "n"}, "domain"),
    ],
)
def test_store_concept_limits_are_validation_errors(semantic, fields, problem):
    error = semantic.err("store_concept", **fields)
    assert error["code"] == "VALIDATION_ERROR" and problem in error["message"]
    assert Concept.objects.count() == 0


def test_configured_limits_apply(transactional_db):
    caller = make_caller({"max_description": 20, "max_query": 10, "max_top_k": 3, "max_page": 5})
    try:
        assert caller.err("store_concept", name="n", domain="d", description="x" * 21)["code"] == "VALIDATION_ERROR"
        assert caller.err("semantic_similarity", query="x" * 11)["code"] == "VALIDATION_ERROR"
        assert caller.err("semantic_similarity", query="x", top_k=4)["code"] == "VALIDATION_ERROR"
        assert caller.err("query_concepts", limit=6)["code"] == "VALIDATION_ERROR"
        assert caller.ok("store_concept", name="n", domain="d", description="x" * 20)["name"] == "n"
    finally:
        asyncio.run(caller.agent.teardown())


def test_bad_configuration_fails_when_the_agent_is_built():
    from agents.semantic.conf import SemanticConfigError

    with pytest.raises(SemanticConfigError):
        SemanticAgent("SEMANTIC-BAD", {"max_top_k": 0})
    with pytest.raises(SemanticConfigError):
        SemanticAgent("SEMANTIC-BAD", {"default_project": "Not Valid"})


def _store_many(semantic, count: int, domain: str = "d", prefix: str = "Item"):
    return [semantic.ok("store_concept", name=f"{prefix} {i:02d}", domain=domain) for i in range(count)]


def test_query_concepts_filters_by_domain_and_case_insensitive_name_prefix(semantic):
    _store_many(semantic, 3, domain="alpha", prefix="Cache")
    _store_many(semantic, 2, domain="beta", prefix="Cache")
    _store_many(semantic, 2, domain="alpha", prefix="Queue")
    assert semantic.ok("query_concepts", domain="alpha")["total"] == 5
    page = semantic.ok("query_concepts", domain="alpha", name_prefix="cACHE")
    assert page["total"] == 3 and {c["name"] for c in page["concepts"]} == {"Cache 00", "Cache 01", "Cache 02"}
    assert semantic.ok("query_concepts", name_prefix="queue 01")["total"] == 1
    assert semantic.ok("query_concepts", name_prefix="%")["total"] == 0  # no wildcard injection


def test_query_concepts_filters_by_created_time_range(semantic):
    stored = _store_many(semantic, 3)
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for i, concept in enumerate(stored):
        Concept.objects.filter(cid=concept["cid"]).update(created_at=base + dt.timedelta(days=i))
    page = semantic.ok("query_concepts", created_after="2026-01-02T00:00:00Z", created_before="2026-01-03")
    assert [c["name"] for c in page["concepts"]] == ["Item 01"]
    assert semantic.ok("query_concepts", created_after="2026-01-02")["total"] == 2
    error = semantic.err("query_concepts", created_after="yesterday")
    assert error["code"] == "VALIDATION_ERROR" and error["details"]["field"] == "created_after"


def test_offset_pages_cover_everything_once(semantic):
    _store_many(semantic, 7)
    seen = []
    for offset in range(0, 7, 3):
        page = semantic.ok("query_concepts", limit=3, offset=offset)
        assert page["total"] == 7
        seen += [c["cid"] for c in page["concepts"]]
    assert len(seen) == 7 and len(set(seen)) == 7


def test_cursor_pages_survive_inserts_between_pages(semantic):
    _store_many(semantic, 5)
    first = semantic.ok("query_concepts", limit=2)
    semantic.ok("store_concept", name="Late arrival", domain="d")  # newest: belongs on the last page
    seen = [c["name"] for c in first["concepts"]]
    cursor = first["next_cursor"]
    while cursor:
        page = semantic.ok("query_concepts", limit=2, cursor=cursor)
        seen += [c["name"] for c in page["concepts"]]
        cursor = page["next_cursor"]
    assert seen == [f"Item {i:02d}" for i in range(5)] + ["Late arrival"]


def test_bad_paging_requests_are_validation_errors(semantic):
    assert semantic.err("query_concepts", cursor="garbage!")["code"] == "VALIDATION_ERROR"
    assert semantic.err("query_concepts", cursor="WzEsMl0", offset=2)["code"] == "VALIDATION_ERROR"
    assert semantic.err("query_concepts", limit=501)["code"] == "VALIDATION_ERROR"
    assert semantic.err("query_concepts", limit=0)["code"] == "VALIDATION_ERROR"
    assert semantic.err("query_concepts", offset=-1)["code"] == "VALIDATION_ERROR"
    assert semantic.err("query_concepts", colour="red")["code"] == "VALIDATION_ERROR"


def test_store_concepts_stores_a_batch_all_or_nothing(semantic):
    batch = [{"name": f"Batch {i}", "domain": "bulk", "description": "tokens for users"} for i in range(5)]
    data = semantic.ok("store_concepts", concepts=batch)
    assert data["count"] == 5 and len({c["cid"] for c in data["concepts"]}) == 5
    hits = semantic.ok("semantic_similarity", query="user tokens", top_k=10)
    assert {r["name"] for r in hits["results"]} == {f"Batch {i}" for i in range(5)}
    clash = [{"name": "New one", "domain": "bulk"}, {"name": "batch 3", "domain": "bulk"}]
    assert semantic.err("store_concepts", concepts=clash)["code"] == "NAMESPACE_COLLISION"
    bad = [{"name": "Fine", "domain": "bulk"}, {"name": "x", "domain": "BAD DOMAIN"}]
    error = semantic.err("store_concepts", concepts=bad)
    assert error["code"] == "VALIDATION_ERROR" and error["details"]["index"] == 1
    assert semantic.ok("query_concepts", domain="bulk")["total"] == 5
    too_many = [{"name": f"n{i}", "domain": "bulk"} for i in range(501)]
    assert semantic.err("store_concepts", concepts=too_many)["code"] == "VALIDATION_ERROR"
