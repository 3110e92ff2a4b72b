#!/usr/bin/env python
"""Two checkouts' gateways, interleaved in one run: the same fakes, one scratch database, two Daphnes.

    .venv/bin/python bench/bench_gateway_ab.py --old ../old-checkout [--old-module daphne] \
        [--new .] [--new-module orchestrator_site.serve] [--clients 32] [--seconds 3] [--rounds 4]

Each checkout needs its own ``.venv`` (``python3 dev.py setup`` there). The database is migrated by this
checkout's code (the two must share the schema). Rounds alternate old/new and new/old; the table gives the
medians of requests/s, p50, p99 and the Daphne's CPU per request at one client and at --clients.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvloop  # noqa: E402

from bench import bench_gateway as bg  # noqa: E402
from tests.support.net import free_port  # noqa: E402


def start(root: Path, module: str, env: dict[str, str], log: Path, stack: contextlib.ExitStack) -> bg.Target:
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                str(root / ".venv/bin/python"),
                "-m",
                module,
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "orchestrator_site.asgi:application",
            ],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    stack.callback(proc.wait, 15)  # callbacks run last-in first-out: terminate, then wait
    stack.callback(proc.terminate)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500:
                return bg.Target(str(root), port, "", "bench-fast", proc.pid)
        time.sleep(0.1)
    raise RuntimeError(f"{root}: Daphne did not answer:\n{log.read_text()[-2000:]}")


def main() -> None:
    bg.exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", type=Path, required=True)
    parser.add_argument("--old-module", default="daphne")
    parser.add_argument("--new", type=Path, default=ROOT)
    parser.add_argument("--new-module", default="orchestrator_site.serve")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-ab-"))
    try:
        with contextlib.ExitStack() as stack:
            key = "sk-bench-ab"
            fast = bg.FakeProcess(key, tmp / "fast.log", api_format="openai", mode="ok", chunks=20)
            stack.callback(fast.stop)
            slow = bg.FakeProcess(key, tmp / "slow.log", api_format="openai", mode="slow", chunks=20)
            stack.callback(slow.stop)
            env, token, _ = bg.prepare_site(tmp, fast, slow, key, "openai")
            targets = {}
            for name, root, module in (("old", args.old, args.old_module), ("new", args.new, args.new_module)):
                target = start(root.resolve(), module, env, tmp / f"{name}.log", stack)
                target.authorization = token
                targets[name] = target
            results: dict[tuple[str, int], list[tuple[float, float, float, float]]] = {}
            for clients in (1, args.clients):
                for target in targets.values():
                    uvloop.run(bg.closed_loop(target, fast.proc.pid, clients=clients, seconds=0.5, stream=False))
                for r in range(args.rounds):
                    order = list(targets.items()) if r % 2 == 0 else list(targets.items())[::-1]
                    for name, target in order:
                        run = uvloop.run(
                            bg.closed_loop(target, fast.proc.pid, clients=clients, seconds=args.seconds, stream=False)
                        )
                        if run.errors:
                            raise RuntimeError(f"{name}: {dict(run.errors)}")
                        cpu_us = run.server_cpu_s / len(run.samples) * 1e6
                        row = (run.rate, run.quantile(0.5), run.quantile(0.99), cpu_us)
                        results.setdefault((name, clients), []).append(row)
            print("| checkout | clients | req/s | p50 ms | p99 ms | Daphne CPU µs/request |")
            print("|---|---|---|---|---|---|")
            for (name, clients), rows in results.items():
                rate, p50, p99, cpu = (statistics.median(r[i] for r in rows) for i in range(4))
                print(f"| {name} | {clients} | {rate:,.0f} | {p50:.2f} | {p99:.2f} | {cpu:,.0f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
