#!/usr/bin/env python3
"""GET /health beside POST /api/route-llm under a real Daphne: its throughput, and what it costs routing.

Starts a private system (orchestrator + naming agent, tests/support/system.py) and one Daphne, then
measures, in interleaved rounds (medians reported):

* route-llm alone: R clients, each one POST /api/route-llm at a time;
* /health alone: H clients, each one GET /health at a time (its throughput);
* route-llm beside /health: the same R route-llm clients while /health is asked ``--health-rate`` times a
  second (paced, spread over H clients: monitoring traffic, not a flood; a flood of any endpoint
  shares one Daphne's CPU with routing, whatever that endpoint does).

/health answers from state renewed once a second in the background (orchestrator_site/health.py), so
its load should neither cost a check per request nor slow routing. Run from the project root:

    .venv/bin/python bench/bench_health.py                       # 4 route clients, 32 health clients, 200/s
    .venv/bin/python bench/bench_health.py --route-clients 8 --health-clients 64 --health-rate 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

from bench.bench_web import Worker, http_client_worker  # noqa: E402
from tests.support.system import System  # noqa: E402
from tests.web.daphne_proc import Daphne  # noqa: E402

# Local Llama: free, so the budget never runs out however long the run.
ROUTE_BODY = json.dumps({"token_count": 1000, "task_type": "coding", "priority": "medium"}).encode()


SERVER_PID = 0  # Daphne's, for its CPU time per request


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


async def run_workers(workers: list[Worker], until: float) -> dict[str, float]:
    samples: list[float] = []
    started, cpu_before = time.perf_counter(), cpu_s(SERVER_PID)
    counts = await asyncio.gather(*(w(until, samples) for w in workers))
    elapsed = time.perf_counter() - started
    samples.sort()
    return {
        "req_s": sum(counts) / elapsed,
        "p50_ms": samples[len(samples) // 2] * 1000,
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000,
        "cpu_ms": (cpu_s(SERVER_PID) - cpu_before) * 1000 / max(1, sum(counts)),
    }


def paced(worker: Worker, interval_s: float, offset_s: float) -> Worker:
    """``worker`` asked once every ``interval_s`` (an open loop: late requests do not pile up)."""

    async def run(until: float, samples: list[float]) -> int:
        n, next_at = 0, time.perf_counter() + offset_s
        while True:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            if time.perf_counter() >= until:
                return n
            t0 = time.perf_counter()
            await worker.once()  # type: ignore[attr-defined]
            samples.append(time.perf_counter() - t0)
            n += 1
            next_at = max(next_at + interval_s, time.perf_counter())

    run.close = worker.close  # type: ignore[attr-defined]
    return run


async def one_round(
    port: int, route_clients: int, health_clients: int, health_rate: float, seconds: float
) -> dict[str, dict]:
    route = [await http_client_worker(port, "POST", "/api/route-llm", ROUTE_BODY) for _ in range(route_clients)]
    health = [await http_client_worker(port, "GET", "/health") for _ in range(health_clients)]
    interval = health_clients / health_rate
    monitors = [paced(w, interval, i * interval / health_clients) for i, w in enumerate(health)]
    try:
        await run_workers(route + health, time.perf_counter() + 0.5)  # warm up both
        out = {
            "route-llm alone": await run_workers(route, time.perf_counter() + seconds),
            "/health alone": await run_workers(health, time.perf_counter() + seconds),
        }
        until = time.perf_counter() + seconds
        both_route, both_health = await asyncio.gather(run_workers(route, until), run_workers(monitors, until))
        out[f"route-llm beside /health at {health_rate:g}/s"] = both_route
        out[f"/health at {health_rate:g}/s beside route-llm"] = both_health
        return out
    finally:
        for w in route + health:
            await w.close()  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--route-clients", type=int, default=4)
    parser.add_argument("--health-clients", type=int, default=32)
    parser.add_argument(
        "--health-rate", type=float, default=200.0, help="/health requests per second beside route-llm."
    )
    parser.add_argument("--seconds", type=float, default=4.0, help="Measured seconds per phase and round.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    system = System(env={"API_RATE_ROUTE_LLM_ANON": "100000000/min", "LOG_LEVEL": "WARNING"})
    daphne = None
    rounds: list[dict[str, dict]] = []
    try:
        system.start()
        system.start_agent("naming", "BENCH-NAMING-1")
        daphne = Daphne(system.env, system.root / "daphne.log").start()
        global SERVER_PID
        SERVER_PID = daphne.proc.pid  # type: ignore[union-attr]
        for r in range(args.rounds):
            rounds.append(
                asyncio.run(
                    one_round(daphne.port, args.route_clients, args.health_clients, args.health_rate, args.seconds)
                )
            )
            print(
                f"  round {r + 1}: "
                + ", ".join(f"{k} {v['req_s']:.0f} req/s p50 {v['p50_ms']:.2f} ms" for k, v in rounds[-1].items()),
                file=sys.stderr,
                flush=True,
            )
    finally:
        if daphne is not None:
            daphne.stop()
        system.stop()
    print(
        f"\n{args.route_clients} route-llm clients, {args.health_clients} /health clients, "
        f"{args.rounds} rounds x {args.seconds:g} s, medians (one request at a time per client)\n"
    )
    print("| load | req/s | p50 ms | p99 ms | Daphne CPU ms per request |")
    print("|---|---|---|---|---|")
    for name in rounds[0]:
        m = {k: statistics.median(r[name][k] for r in rounds) for k in rounds[0][name]}
        cpu = f"{m['cpu_ms']:.2f}" if "alone" in name else "(shared)"
        print(f"| {name} | {m['req_s']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {cpu} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
