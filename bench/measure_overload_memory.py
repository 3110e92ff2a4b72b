#!/usr/bin/env python3
"""The orchestrator's memory before, during and after an overload burst.

Starts a private orchestrator and one probe agent that takes 16 requests at a time
(tests/support/system.py), measures the orchestrator's RSS at rest, sends --requests
requests at once (most of them wait in the type's queue), and measures RSS at the
peak, once every answer is back, and --settle seconds later.

    .venv/bin/python bench/measure_overload_memory.py                  # 20,000 requests
    .venv/bin/python bench/measure_overload_memory.py --requests 20000 --settle 5
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator_site.settings")

from agents.client import AsyncClient  # noqa: E402
from tests.support.memory import rss_mb  # noqa: E402
from tests.support.system import System  # noqa: E402


async def burst(socket_path: str, n: int, pid: int) -> tuple[float, dict[str, int]]:
    client = await AsyncClient.connect(socket_path)
    peak = 0.0
    try:
        tasks = [
            asyncio.ensure_future(client.request("probe", "slow", {"ms": 1}, timeout_ms=120_000)) for _ in range(n)
        ]
        while not all(t.done() for t in tasks):
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.05)
        outcomes: dict[str, int] = {}
        for t in tasks:
            frame = t.result()
            code = frame["status"] if frame["status"] == "success" else frame["error"]["code"]
            outcomes[code] = outcomes.get(code, 0) + 1
        return peak, outcomes
    finally:
        await client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the orchestrator (repeatable).")
    args = parser.parse_args()
    env = {"LOG_LEVEL": "WARNING", "ORCHESTRATOR_MAX_QUEUE_PER_TYPE": str(args.requests), "DJANGO_WEB_APPS": "0"}
    env.update(item.split("=", 1) for item in args.env)
    system = System(env=env)
    try:
        system.start()
        system.start_agent("probe", "MEM-PROBE-1", env={"AGENT_MAX_INFLIGHT": "16"})
        pid = system.orchestrator.pid  # type: ignore[union-attr]
        time.sleep(1.0)
        rest = rss_mb(pid)
        started = time.monotonic()
        peak, outcomes = asyncio.run(burst(str(system.client_socket), args.requests, pid))
        took = time.monotonic() - started
        after = rss_mb(pid)
        time.sleep(args.settle)
        settled = rss_mb(pid)
    finally:
        system.stop()
    print(f"{args.requests} requests in {took:.1f} s: {outcomes}")
    print(
        f"orchestrator RSS: rest {rest:.1f} MB, peak {peak:.1f} MB, all answered {after:.1f} MB, "
        f"+{args.settle:g} s {settled:.1f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
