#!/usr/bin/env python3
"""Benchmark of semantic_similarity over a large concept store.

    .venv/bin/python bench/bench_semantic.py                 # 10,000 concepts, in-process + through the orchestrator
    .venv/bin/python bench/bench_semantic.py --no-e2e        # in-process only (no subprocesses)
    .venv/bin/python bench/bench_semantic.py --concepts 2000 --queries 100

It makes a private SQLite database in a temp directory (or uses
--database-url), migrates it, stores N synthetic concepts (a Zipf-distributed
vocabulary of real and made-up words, 2-4 word names, 15-40 word
descriptions, 20 domains; fixed seed), then measures:

* in-process: ``await SemanticAgent.handle(semantic_similarity)``, i.e. the
  action as a transport calls it: the corpus-version check (one query), the
  TF-IDF search, and the fetch of the top-k rows;
* after a write: store one concept, then query (the index catches up
  incrementally before answering);
* through the orchestrator (unless --no-e2e): a client on orchestrator.sock
  -> orchestrator -> a ``run_agent semantic`` process on the same database.

Latencies are per request, sequential (one in flight), in milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

REAL_WORDS = (
    "user session token database cache query request response server client password email invoice "
    "image network limit balance storage schema migration pool connection queue worker job schedule "
    "retry timeout socket stream message event log metric trace alert budget cost provider model route "
    "search index document vector score rank filter page cursor tenant account billing payment refund "
    "order cart product price discount report export import file upload download archive backup restore "
    "deploy release build test lint format config secret key certificate proxy gateway service registry"
).split()


def vocabulary(rng: random.Random, size: int) -> list[str]:
    syllables = [
        "ka",
        "lo",
        "mi",
        "ne",
        "ru",
        "ta",
        "vo",
        "zi",
        "pe",
        "sa",
        "do",
        "fu",
        "gri",
        "bel",
        "tor",
        "xan",
        "qui",
        "ron",
        "dal",
        "mer",
    ]
    made_up = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(size * 2)}
    return REAL_WORDS + sorted(made_up)[: size - len(REAL_WORDS)]


def corpus(n: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    words = vocabulary(rng, 4000)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]  # Zipf: a few words are everywhere
    items = []
    for i in range(n):
        name = " ".join(rng.choices(words, weights, k=rng.randint(2, 4))) + f" {i}"
        description = " ".join(rng.choices(words, weights, k=rng.randint(15, 40)))
        items.append({"name": name, "domain": f"domain-{i % 20}", "description": description})
    return items


def queries(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    words = vocabulary(random.Random(7), 4000)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    return [" ".join(rng.choices(words, weights, k=rng.randint(3, 8))) for _ in range(n)]


def summary(label: str, samples_ms: list[float]) -> str:
    s = sorted(samples_ms)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))]  # noqa: E731
    return (
        f"{label:<44} n={len(s):<5} p50={pick(0.50):7.2f} ms  p95={pick(0.95):7.2f} ms  "
        f"p99={pick(0.99):7.2f} ms  mean={statistics.fmean(s):7.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concepts", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--top-k", type=int, default=10)
    parser.add_argument("--database-url", default=None, help="default: a temp SQLite file")
    parser.add_argument("--no-e2e", action="store_true", help="skip the measurement through the orchestrator")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-sem-", dir="/tmp"))
    database_url = args.database_url or f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["DATABASE_URL"] = database_url
    try:
        return run(args, database_url)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(args: argparse.Namespace, database_url: str) -> int:
    import django

    django.setup()
    from django.core.management import call_command

    from agents import protocol
    from agents.semantic.agent import SemanticAgent
    from agents.semantic.conf import SemanticSettings
    from agents.semantic.models import Concept
    from agents.semantic.services import concept_store_many

    call_command("migrate", verbosity=0, interactive=False)
    if Concept.objects.exists():
        print("the database already holds concepts; use an empty one", file=sys.stderr)
        return 2
    print(
        f"database: {database_url.split('://')[0]}, {args.concepts} concepts, {args.queries} queries, "
        f"top_k={args.top_k}, python {sys.version.split()[0]}, {os.cpu_count()} cpus"
    )

    items = corpus(args.concepts)
    started = time.perf_counter()
    settings = SemanticSettings()
    for i in range(0, len(items), 500):
        concept_store_many(items=items[i : i + 500], settings=settings)
    print(f"stored {len(items)} concepts in {time.perf_counter() - started:.1f} s (batches of 500)")

    agent = SemanticAgent("BENCH-SEMANTIC", {})
    qs = queries(args.queries)

    async def measure() -> None:
        started = time.perf_counter()
        await agent.setup()  # builds the index from the database
        print(f"cold index build: {(time.perf_counter() - started) * 1000:.0f} ms")

        async def one(data: dict) -> float:
            request = protocol.normalize_request(
                {"action": "semantic_similarity", "data": data}, default_agent="semantic"
            )
            t0 = time.perf_counter()
            frame = await agent.handle(request)
            elapsed = (time.perf_counter() - t0) * 1000
            assert frame["status"] == "success", frame
            return elapsed

        for q in qs[:20]:  # warm-up: thread pool, query plans
            await one({"query": q, "top_k": args.top_k})
        plain = [await one({"query": q, "top_k": args.top_k}) for q in qs]
        hits = await agent.handle(
            protocol.normalize_request(
                {"action": "semantic_similarity", "data": {"query": qs[0], "top_k": args.top_k}},
                default_agent="semantic",
            )
        )
        print(
            f"  sample query {qs[0]!r}: {hits['data']['count']} results, best score "
            f"{hits['data']['results'][0]['score'] if hits['data']['results'] else 0}"
        )
        print(summary("in-process semantic_similarity", plain))
        domain = [await one({"query": q, "top_k": args.top_k, "domain": "domain-3"}) for q in qs]
        print(summary("in-process, domain filter", domain))
        after_write = []
        for i in range(30):
            store = protocol.normalize_request(
                {
                    "action": "store_concept",
                    "data": {"name": f"fresh concept {i}", "domain": "fresh", "description": qs[i]},
                },
                default_agent="semantic",
            )
            assert (await agent.handle(store))["status"] == "success"
            after_write.append(await one({"query": qs[i], "top_k": args.top_k}))
        print(summary("in-process, first query after a write", after_write))
        await agent.teardown()

    asyncio.run(measure())
    if not args.no_e2e:
        measure_e2e(args, database_url, qs)
    return 0


def measure_e2e(args: argparse.Namespace, database_url: str, qs: list[str]) -> None:
    from tests.support.system import System

    system = System(env={"DATABASE_URL": database_url})
    try:
        system.start()
        system.start_agent("semantic")
        with system.client() as client:
            for q in qs[:20]:
                client.request("semantic", "semantic_similarity", {"query": q, "top_k": args.top_k})
            samples = []
            for q in qs:
                t0 = time.perf_counter()
                frame = client.request("semantic", "semantic_similarity", {"query": q, "top_k": args.top_k})
                samples.append((time.perf_counter() - t0) * 1000)
                assert frame["status"] == "success", frame
        print(summary("through the orchestrator (client socket)", samples))
    finally:
        system.stop()


if __name__ == "__main__":
    sys.exit(main())
