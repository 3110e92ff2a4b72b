#!/usr/bin/env python3
"""Benchmark of namespace allocation in the database (the naming agent's service).

    .venv/bin/python bench/bench_naming.py                       # private SQLite file
    .venv/bin/python bench/bench_naming.py --database-url postgres://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/bench_naming.py --count 2000 --threads 1 4 16
    .venv/bin/python bench/bench_naming.py --keys       # every allocation with its own idempotency key

With SQLite it makes a private database file in a temp directory; with a
PostgreSQL URL it creates a private database ``bench_naming_<pid>`` on that
server (and drops it afterwards). It migrates it, then for each thread count
allocates ``--count`` namespaces for one project and environment (one
sequence, so every allocation contends for the same counter row) and reports
allocations/s and per-allocation latency p50/p99, and checks the numbers came
out distinct and gap-free, and the CPU time this process spent per
allocation. With --keys every allocation carries a fresh idempotency key, as
requests from the client library and ``manage.py send`` do (their ids are long
enough to serve as keys). This is the service alone: no sockets, no
orchestrator (bench/bench_socket.py measures the full path).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

from bench.scratch_postgres import private_database  # noqa: E402


def prepare_database(url: str | None) -> tuple[str, object]:
    """The DATABASE_URL to use and a cleanup callable."""
    if not url or url.startswith("sqlite"):
        tmp = Path(tempfile.mkdtemp(prefix="bench-naming-"))
        return f"sqlite:///{tmp / 'db.sqlite3'}", lambda: shutil.rmtree(tmp, ignore_errors=True)
    return private_database(url, "bench_naming")


def run(threads: int, count: int, keys: bool = False) -> dict[str, float]:
    from django.db import connections

    from agents.naming import services
    from agents.naming.conf import NamingSettings

    settings = NamingSettings()
    project = f"bench{threads}t{int(time.time() * 1000) % 10**8}"
    per_thread = count // threads
    latencies: list[float] = []
    sequences: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        mine: list[float] = []
        seqs: list[int] = []
        barrier.wait()
        for _ in range(per_thread):
            start = time.perf_counter()
            key = services.idempotency_key_for(idempotency_key=uuid.uuid4().hex) if keys else None
            ns = services.namespace_allocate(
                project=project, environment="test", settings=settings, idempotency_key=key
            ).obj
            mine.append(time.perf_counter() - start)
            assert ns.sequence is not None  # a sequenced namespace
            seqs.append(ns.sequence)
        connections.close_all()
        with lock:
            latencies.extend(mine)
            sequences.extend(seqs)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started, cpu_started = time.perf_counter(), time.process_time()
    for t in pool:
        t.join()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    total = per_thread * threads
    assert sorted(sequences) == list(range(1, total + 1)), "numbers not distinct and gap-free"
    latencies.sort()
    return {
        "threads": threads,
        "allocations": total,
        "per_s": total / elapsed,
        "cpu_us": cpu / total * 1e6,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--keys", action="store_true", help="give every allocation its own idempotency key")
    args = parser.parse_args()

    url, cleanup = prepare_database(args.database_url)
    os.environ["DATABASE_URL"] = url
    try:
        import django
        from django.core.management import call_command
        from django.db import connection

        django.setup()
        call_command("migrate", verbosity=0, interactive=False)
        print(
            f"database: {connection.vendor}, {args.count} allocations per run, one project/environment"
            f"{', each with an idempotency key' if args.keys else ''}"
        )
        for threads in args.threads:
            r = run(threads, args.count, args.keys)
            print(
                f"  {r['threads']:>3} threads: {r['per_s']:8.0f} allocations/s   "
                f"p50 {r['p50_ms']:6.2f} ms   p99 {r['p99_ms']:6.2f} ms   CPU {r['cpu_us']:5.0f} us/allocation"
                f"   (1..{r['allocations']} gap-free)"
            )
    finally:
        cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    main()
