from __future__ import annotations

import pytest

from agents.semantic import similarity
from agents.semantic.index import IndexCache


def _names(result):
    return [r["name"] for r in result["results"]]


@pytest.mark.parametrize(
    "query, expected_first, topic",
    [
        ("authenticate a user and start a session", "Login service", "auth"),
        ("I forgot my password, send me an email", "Password reset", "auth"),
        ("throttle clients sending too many requests", "Rate limiter", "network"),
        ("caching slow queries", "Query result cache", "storage"),
        ("charging customers every month", "Invoice generator", "billing"),
        ("recognise objects in pictures with neural networks", "Image classifier", "ml"),
    ],
)
def test_related_concepts_rank_above_unrelated_ones(semantic, corpus, query, expected_first, topic):
    result = semantic.ok("semantic_similarity", query=query, top_k=10)
    names = _names(result)
    assert names[0] == expected_first
    scores = [r["score"] for r in result["results"]]
    assert scores == sorted(scores, reverse=True) and all(0 < s <= 1 for s in scores)
    assert result["results"][0]["domain"] == topic


def test_a_topic_query_puts_the_whole_topic_first(semantic, corpus):
    result = semantic.ok("semantic_similarity", query="database tables and connections", top_k=10)
    domains = [r["domain"] for r in result["results"]]
    storage = [i for i, d in enumerate(domains) if d == "storage"]
    others = [i for i, d in enumerate(domains) if d != "storage"]
    assert len(storage) == 3 and (not others or max(storage) < min(others))


def test_word_forms_match_without_sharing_a_substring_of_the_name(semantic, corpus):
    # "authenticating" is not a substring of any stored text ("Authenticates"
    # is), and "logins" is not in "Login service": stems carry the match.
    names = _names(semantic.ok("semantic_similarity", query="authenticating logins", top_k=3))
    assert names[0] == "Login service"


def test_unrelated_text_finds_nothing(semantic, corpus):
    result = semantic.ok("semantic_similarity", query="zebra giraffe savanna", top_k=5)
    assert result["results"] == [] and result["corpus_size"] == len(corpus)


def test_domain_filter_and_top_k_bound_the_results(semantic, corpus):
    result = semantic.ok("semantic_similarity", query="users tokens requests database", top_k=2, domain="auth")
    assert len(result["results"]) == 2 and {r["domain"] for r in result["results"]} == {"auth"}
    assert semantic.ok("semantic_similarity", query="users", domain="nope")["results"] == []


def test_min_score_drops_weak_matches(semantic, corpus):
    everything = semantic.ok("semantic_similarity", query="users requests", top_k=10)["results"]
    cut = (everything[0]["score"] + everything[-1]["score"]) / 2
    strong = semantic.ok("semantic_similarity", query="users requests", top_k=10, min_score=cut)["results"]
    assert len(strong) < len(everything) and strong[0]["cid"] == everything[0]["cid"]


def test_new_and_deleted_concepts_show_up_in_the_next_query(semantic, corpus):
    query = "translate text between languages"
    assert semantic.ok("semantic_similarity", query=query)["results"] == []
    added = semantic.ok(
        "store_concept", name="Translator", domain="ml", description="Translates text from one language into another."
    )
    assert _names(semantic.ok("semantic_similarity", query=query))[0] == "Translator"
    semantic.ok("delete_concept", cid=added["cid"])
    assert "Translator" not in _names(semantic.ok("semantic_similarity", query=query))


def test_every_instance_answers_the_same_however_its_index_was_built(semantic, corpus):
    # One cache followed every change incrementally, the other loads the
    # corpus from scratch afterwards: the answers must be identical, scores
    # included, which is what several semantic processes rely on.
    incremental = IndexCache()
    incremental.current()
    for i in range(30):
        semantic.ok(
            "store_concept",
            name=f"Extra concept {i}",
            domain="extra",
            description=f"Session tokens and database rows number {i} for users",
        )
        incremental.current()
        if i % 3 == 0:
            semantic.ok(
                "delete_concept", cid=semantic.ok("query_concepts", domain="extra", limit=1)["concepts"][0]["cid"]
            )
    snap_inc, version_inc = incremental.current()
    fresh = IndexCache()
    snap_full, version_full = fresh.current()
    assert version_inc == version_full and incremental.incremental_updates > 0 and fresh.full_loads == 1
    for query in ("session tokens for users", "database rows", "HTTP requests", "number 7"):
        a = similarity.search(snap_inc, query, top_k=20)
        b = similarity.search(snap_full, query, top_k=20)
        assert a == b and a


def test_limits_are_validation_errors(semantic):
    assert semantic.err("semantic_similarity", query="x" * 1001)["code"] == "VALIDATION_ERROR"
    assert semantic.err("semantic_similarity", query="   ")["code"] == "VALIDATION_ERROR"
    error = semantic.err("semantic_similarity", query="users", top_k=101)
    assert error["code"] == "VALIDATION_ERROR" and "top_k" in error["message"]
    assert semantic.err("semantic_similarity", query="users", top_k=0)["code"] == "VALIDATION_ERROR"


def test_stemmer_sends_common_word_forms_to_one_key():
    assert (
        similarity.stem("caches") == similarity.stem("caching") == similarity.stem("cached") == similarity.stem("cache")
    )
    assert similarity.stem("policies") == similarity.stem("policy")
    assert similarity.stem("authentication") == similarity.stem("authenticate")
    assert similarity.tokens("TokenBucketLimiter user_sessions") == ["token", "bucket", "limit", "user", "session"]


def test_concurrent_stores_each_get_a_version_and_all_are_searchable(semantic):
    import asyncio

    from agents import protocol
    from agents.semantic.models import ConceptChange, CorpusState

    async def race():
        requests = [
            protocol.normalize_request(
                {
                    "action": "store_concept",
                    "data": {
                        "name": f"Parallel {i}",
                        "domain": "race",
                        "description": "concurrent writers of session tokens",
                    },
                },
                default_agent="semantic",
            )
            for i in range(12)
        ]
        return await asyncio.gather(*(semantic.agent.handle(r) for r in requests))

    frames = asyncio.run(race())
    assert all(f["status"] == "success" for f in frames), frames
    versions = sorted(f["data"]["corpus_version"] for f in frames)
    assert versions == list(range(1, 13))
    assert CorpusState.objects.get(pk=1).version == 12 and ConceptChange.objects.count() == 12
    hits = semantic.ok("semantic_similarity", query="session tokens", top_k=20)
    assert hits["count"] == 12 and hits["corpus_version"] == 12


def test_an_index_that_fell_behind_the_pruned_log_reloads_everything(semantic, monkeypatch):
    from agents.semantic import services
    from agents.semantic.models import ConceptChange

    monkeypatch.setattr(services, "CHANGE_LOG_KEEP", 3)
    monkeypatch.setattr(services, "_PRUNE_EVERY", 2)
    semantic.ok("store_concept", name="First", domain="p", description="session tokens")
    behind = IndexCache()
    assert behind.current()[1] == 1 and behind.full_loads == 1
    for i in range(8):
        semantic.ok("store_concept", name=f"Pruned {i}", domain="p", description="session tokens")
    assert not ConceptChange.objects.filter(version=2).exists()  # the log no longer reaches back
    snap, version = behind.current()
    assert behind.full_loads == 2 and behind.incremental_updates == 0
    assert version == 9 and snap.size == 9
