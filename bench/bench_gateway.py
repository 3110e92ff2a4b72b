#!/usr/bin/env python
"""The LLM gateway (/v1/chat/completions under Daphne) against the same fake provider called directly.

    .venv/bin/python bench/bench_gateway.py [--duration 3] [--rounds 3] [--clients 32] [--streams 1000] [--quick]
        [--api-format openai|anthropic] [--direct-only]

Starts, on loopback only:

* two fake OpenAI-format providers (tests/support/fake_provider.py, each its own
  process, so the load generator and the fake do not share a GIL): "fast"
  answers at once (streams of --chunks chunks written together), "slow" spaces
  its stream chunks by --chunk-delay-s (for the held streams);
* a Daphne serving orchestrator_site.asgi:application on a free port, with a
  scratch SQLite database (migrated here) holding one API token and two
  providers pointing at the fakes (``api_base``, ``api_format``,
  ``upstream_model``, ``api_key_env``), the budget raised so it never runs out;
  budget checks, route logs and settlement stay on.

Then, in rounds that interleave the two targets so the machine's noise hits
both alike, the same requests straight to the fake and through the gateway
(``model`` pinned to the fast provider): one client and --clients clients,
non-streamed, and one streamed client; medians over rounds are printed with
the gateway's added latency (p50, p99), requests/s, the time to the first
chunk of a stream, and the CPU per request of the Daphne process (from
/proc/<pid>/stat), of the fake and of the load generator. Last, --streams
streams opened together against the slow provider, held to their end, once
per target: answers that did not end in ``data: [DONE]`` (message_stop for
Anthropic) are errors. ``--api-format anthropic`` makes the fakes speak the
Messages API: the direct calls are then Messages requests, the gateway's are
still OpenAI's (it translates).

The load generator is a raw asyncio HTTP/1.1 keep-alive client on uvloop
(bench/README.md: httpx costs several times its CPU per request and would
cap the direct figures). Without the gateway (no /v1/chat/completions, or a
Provider model without ``api_base``), only the direct half runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_router import cpu_seconds  # noqa: E402
from tests.web.daphne_proc import Daphne  # noqa: E402

KEY_ENV = "BENCH_GATEWAY_FAKE_KEY"
UPSTREAM_MODEL = "fake-model"
ANSWER_TIMEOUT_S = 60.0  # an answer not complete by then counts as an error ("TimeoutError"), the run goes on
MESSAGES = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello to the bench."}]


# --- the processes ------------------------------------------------------------------------------


class FakeProcess:
    """python -m tests.support.fake_provider with one fixed behaviour."""

    def __init__(self, api_key: str, log: Path, **behaviour: object) -> None:
        args = [sys.executable, "-m", "tests.support.fake_provider", "--api-key", api_key]
        for name, value in behaviour.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        with open(log, "ab") as errors:
            self.proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, start_new_session=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f"fake provider did not start:\n{log.read_text()[-2000:]}")
        info = json.loads(line)
        self.port, self.base_url = info["port"], info["base_url"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def prepare_site(
    tmp: Path, fast: FakeProcess, slow: FakeProcess, api_key: str, api_format: str
) -> tuple[dict[str, str], str, bool]:
    """Migrate a scratch SQLite database, make a token and the two providers. Returns the
    environment for Daphne, the token, and whether this checkout has the gateway."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "orchestrator_site.settings",
            "DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}",
            "LOG_LEVEL": "WARNING",
            "DJANGO_DEBUG": "0",
            KEY_ENV: api_key,
            "ORCHESTRATOR_SOCKET_DIR": str(tmp / "sockets"),  # no orchestrator: the gateway must not need one
            "API_RATE_ROUTE_LLM_USER": "1000000000/min",
            "API_RATE_REQUEST_USER": "1000000000/min",
        }
    )
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    os.environ.update(env)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from llmrouter.models import Budget, Provider

    user = get_user_model().objects.create_user("bench")
    token = Token.objects.create(user=user).key
    Budget.objects.update(amount=1_000_000)
    has_gateway = any(f.name == "api_base" for f in Provider._meta.get_fields())
    if has_gateway:
        Provider.objects.update(enabled=False)
        for key, fake in (("bench-fast", fast), ("bench-slow", slow)):
            Provider.objects.create(
                key=key,
                name=key,
                cost_per_1m=1,
                context_window=128_000,
                latency_ms=100,
                quality=0.8,
                capabilities=["coding"],
                api_base=fake.base_url,
                api_format=api_format,
                upstream_model=UPSTREAM_MODEL,
                api_key_env=KEY_ENV,
            )
    return env, token, has_gateway


# --- the load generator --------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    authorization: str
    model: str
    pid: int  # the process whose CPU is charged to it
    api: str = "openai"  # what it is sent: the gateway always takes OpenAI's format

    def request(self, *, stream: bool) -> bytes:
        """The same call in the target's format (Anthropic's: the system prompt as a top-level field)."""
        if self.api == "anthropic":
            path, auth = "/v1/messages", f"x-api-key: {self.authorization}\r\nanthropic-version: 2023-06-01"
            body: dict = {
                "model": self.model,
                "system": MESSAGES[0]["content"],
                "messages": MESSAGES[1:],
                "max_tokens": 64,
            }
            if stream:
                body["stream"] = True
        else:
            path, auth = "/v1/chat/completions", f"Authorization: Bearer {self.authorization}"
            body = {"model": self.model, "messages": MESSAGES, "max_tokens": 64}
            if stream:
                body.update(stream=True, stream_options={"include_usage": True})
        data = json.dumps(body).encode()
        return (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n{auth}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode() + data

    @property
    def stream_end(self) -> bytes:
        """How a complete stream ends; anything else is an error."""
        return b'data: {"type":"message_stop"}\n\n' if self.api == "anthropic" else b"data: [DONE]\n\n"


@dataclass
class Sample:
    status: int
    total: float
    first_chunk: float | None  # streams: when the first chunk of the body arrived
    ok: bool


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, stream_end: bytes
) -> Sample:
    t0 = time.perf_counter()
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status, length, chunked = int(head[9:12]), None, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    if not chunked:
        body = await reader.readexactly(length or 0)
        return Sample(status, time.perf_counter() - t0, None, status == 200 and b'"usage"' in body)
    first, tail = None, b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        data = await reader.readexactly(size + 2)
        if first is None:
            first = time.perf_counter() - t0
        if size == 0:
            break
        tail = (tail + data[:-2])[-32:]
    return Sample(status, time.perf_counter() - t0, first, status == 200 and tail.endswith(stream_end))


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    server_cpu_s: float = 0.0
    fake_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    def record(self, sample: Sample) -> None:
        self.samples.append(sample)
        if not sample.ok:
            self.errors[f"status {sample.status}" if sample.status != 200 else "incomplete"] += 1

    def quantile(self, q: float, what: str = "total") -> float:
        values = sorted(getattr(s, what) for s in self.samples if getattr(s, what) is not None)
        return values[min(len(values) - 1, int(len(values) * q))] * 1e3 if values else float("nan")

    @property
    def rate(self) -> float:
        return len(self.samples) / self.seconds if self.seconds else 0.0


async def _client(target: Target, request: bytes, until: float, run: Run) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    try:
        while time.perf_counter() < until:
            try:
                async with asyncio.timeout(ANSWER_TIMEOUT_S):  # no task per request, unlike wait_for
                    sample = await exchange(reader, writer, request, target.stream_end)
                run.record(sample)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                run.errors[type(exc).__name__] += 1
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", target.port)
    finally:
        writer.close()


async def closed_loop(target: Target, fake_pid: int, *, clients: int, seconds: float, stream: bool) -> Run:
    """``clients`` connections, each one request at a time for ``seconds`` (after a short warm-up)."""
    request = target.request(stream=stream)
    await asyncio.gather(*(_client(target, request, time.perf_counter() + 0.3, Run()) for _ in range(clients)))
    run = Run()
    cpu = (cpu_seconds(target.pid), cpu_seconds(fake_pid), time.process_time())
    started = time.perf_counter()
    await asyncio.gather(*(_client(target, request, started + seconds, run) for _ in range(clients)))
    run.seconds = time.perf_counter() - started
    run.server_cpu_s = cpu_seconds(target.pid) - cpu[0]
    run.fake_cpu_s = cpu_seconds(fake_pid) - cpu[1]
    run.client_cpu_s = time.process_time() - cpu[2]
    return run


async def held_streams(target: Target, fake_pid: int, n: int, seconds_each: float) -> tuple[Run, int]:
    """``n`` connections opened first (200 at a time: Daphne's listen backlog is short), then one slow
    stream on each, all sent together and read to the end. Returns the run and the peak of streams
    open at once."""
    gate = asyncio.Semaphore(200)

    async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with gate:
            return await asyncio.open_connection("127.0.0.1", target.port)

    conns = await asyncio.gather(*(connect() for _ in range(n)))
    request, run, open_now, peak = target.request(stream=True), Run(), [0], [0]

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        open_now[0] += 1
        peak[0] = max(peak[0], open_now[0])
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S + seconds_each):
                sample = await exchange(reader, writer, request, target.stream_end)
            run.record(sample)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            run.errors[type(exc).__name__] += 1
        finally:
            open_now[0] -= 1
            writer.close()

    cpu = (cpu_seconds(target.pid), cpu_seconds(fake_pid), time.process_time())
    started = time.perf_counter()
    await asyncio.gather(*(one(r, w) for r, w in conns))
    run.seconds = time.perf_counter() - started
    run.server_cpu_s = cpu_seconds(target.pid) - cpu[0]
    run.fake_cpu_s = cpu_seconds(fake_pid) - cpu[1]
    run.client_cpu_s = time.process_time() - cpu[2]
    return run, peak[0]


# --- the measurements ------------------------------------------------------------------------------

SCENARIOS = (("non-streamed", 1, False), ("non-streamed", None, False), ("streamed", 1, True))


async def measure(targets: list[Target], fake_pid: int, args: argparse.Namespace) -> dict[tuple, list[Run]]:
    runs: dict[tuple, list[Run]] = {}
    for r in range(args.rounds):
        for label, clients, stream in SCENARIOS:
            clients = clients or args.clients
            for target in targets:
                run = await closed_loop(target, fake_pid, clients=clients, seconds=args.duration, stream=stream)
                runs.setdefault((label, clients, target.name), []).append(run)
                print(
                    f"  round {r + 1}: {label}, {clients} client(s), {target.name}: {run.rate:,.0f} req/s, "
                    f"p50 {run.quantile(0.5):.2f} ms, errors {dict(run.errors)}",
                    file=sys.stderr,
                    flush=True,
                )
    return runs


def summary(runs: list[Run]) -> dict[str, float]:
    """Medians over rounds of one row's figures (ms, req/s, CPU us per request)."""
    figures = {
        "rate": lambda r: r.rate,
        "p50": lambda r: r.quantile(0.5),
        "p99": lambda r: r.quantile(0.99),
        "first": lambda r: r.quantile(0.5, "first_chunk"),
        "server_us": lambda r: per_request_us(r.server_cpu_s, r),
        "fake_us": lambda r: per_request_us(r.fake_cpu_s, r),
        "client_us": lambda r: per_request_us(r.client_cpu_s, r),
    }
    return {name: statistics.median(get(run) for run in runs) for name, get in figures.items()}


def per_request_us(cpu_s: float, run: Run) -> float:
    return cpu_s / max(1, len(run.samples)) * 1e6


def ms(value: float, sign: str = "") -> str:
    return "-" if value != value else f"{value:{sign}.2f}"  # NaN: no first chunk (not streamed)


def print_closed_loop(runs: dict[tuple, list[Run]], names: list[str]) -> None:
    print(
        "\n| scenario | clients | target | req/s | p50 ms | p99 ms | first chunk p50 ms | "
        "server CPU us/req | fake CPU us/req | client CPU us/req | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = {key: summary(rs) for key, rs in runs.items()}
    for (label, clients, name), m in rows.items():
        errors = sum((r.errors for r in runs[(label, clients, name)]), Counter())
        print(
            f"| {label} | {clients} | {name} | {m['rate']:,.0f} | {ms(m['p50'])} | {ms(m['p99'])} "
            f"| {ms(m['first'])} | {m['server_us']:.0f} | {m['fake_us']:.0f} | {m['client_us']:.0f} "
            f"| {dict(errors) or 0} |"
        )
    if len(names) < 2:
        return
    print("\n| scenario | clients | added p50 ms | added p99 ms | added first chunk p50 ms | gateway/direct req/s |")
    print("|---|---|---|---|---|---|")
    for (label, clients, name), m in rows.items():
        if name == names[1]:
            d = rows[(label, clients, names[0])]
            print(
                f"| {label} | {clients} | {ms(m['p50'] - d['p50'], '+')} | {ms(m['p99'] - d['p99'], '+')} "
                f"| {ms(m['first'] - d['first'], '+')} | {m['rate'] / d['rate']:.3f} |"
            )


def print_held(rows: list[tuple[str, Run, int]], n: int, seconds_each: float) -> None:
    print(f"\n{n} concurrent streams held to the end (each about {seconds_each:.1f} s):\n")
    print(
        "| target | completed | errors | peak open | first chunk p50 / p99 ms | total p50 / p99 s | wall s "
        "| server CPU ms/stream |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, run, peak in rows:
        done = sum(1 for s in run.samples if s.ok)
        first = f"{run.quantile(0.5, 'first_chunk'):.1f} / {run.quantile(0.99, 'first_chunk'):.1f}"
        total = f"{run.quantile(0.5) / 1e3:.2f} / {run.quantile(0.99) / 1e3:.2f}"
        print(
            f"| {name} | {done} / {n} | {dict(run.errors) or 0} | {peak} | {first} | {total} | {run.seconds:.2f} "
            f"| {per_request_us(run.server_cpu_s, run) / 1e3:.2f} |"
        )


# --- main --------------------------------------------------------------------------------------------


def print_bookkeeping() -> None:
    """What the gateway wrote for the run: every proxied call must have its attempt and its settlement."""
    from django.db.models import Count

    from llmrouter.models import LedgerEntry, RouteAttempt, RouteLog

    attempts = RouteAttempt.objects.values_list("outcome", "usage_source").annotate(n=Count("id")).order_by()
    ledger = LedgerEntry.objects.values_list("kind", "usage_source").annotate(n=Count("id")).order_by()
    by_attempt = {f"{outcome}/{usage}": n for outcome, usage, n in attempts}
    by_entry = {f"{kind}/{usage or '-'}": n for kind, usage, n in ledger}
    print(
        f"\nwritten by the gateway: {RouteLog.objects.count():,} route logs; attempts (outcome/usage) "
        f"{by_attempt}; ledger entries (kind/usage) {by_entry}"
    )


def check_gateway(daphne: Daphne, token: str) -> str | None:
    """One call through the gateway before the load; None when this checkout has no gateway."""
    import httpx

    answer = httpx.post(
        daphne.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {token}"},
        json={"model": "bench-fast", "messages": MESSAGES, "max_tokens": 64},
        timeout=30,
    )
    if answer.status_code == 404 and "x-route-decision-id" not in answer.headers:
        return None
    if answer.status_code != 200:
        raise RuntimeError(f"the gateway answered {answer.status_code}: {answer.text[:500]}")
    return answer.headers.get("x-route-provider", "?")


async def bench(
    args: argparse.Namespace,
    direct: Target,
    gateway: Target | None,
    slow: tuple[Target, Target | None],
    fake_pids: tuple[int, int],
) -> None:
    targets = [direct] + ([gateway] if gateway else [])
    runs = await measure(targets, fake_pids[0], args)
    print_closed_loop(runs, [t.name for t in targets])
    rows = []
    for target in (t for t in slow if t is not None):
        run, peak = await held_streams(target, fake_pids[1], args.streams, args.chunks * args.chunk_delay_s)
        rows.append((target.name, run, peak))
        print(
            f"  held streams, {target.name}: {len(run.samples)} answers, errors {dict(run.errors)}",
            file=sys.stderr,
            flush=True,
        )
    print_held(rows, args.streams, args.chunks * args.chunk_delay_s)
    if gateway is not None:
        print_targets(runs, rows, args)


def print_targets(runs: dict[tuple, list[Run]], held: list[tuple[str, Run, int]], args: argparse.Namespace) -> None:
    """Issue 15's three targets, against this run's medians."""
    one = {name: summary(rs) for (label, clients, name), rs in runs.items() if label == "non-streamed" and clients == 1}
    added = one["through the gateway"]["p50"] - one["direct to the fake"]["p50"]
    loaded = summary(runs[("non-streamed", args.clients, "through the gateway")])["rate"]
    _, streams, _ = held[-1]
    complete = sum(1 for s in streams.samples if s.ok)
    failed = sum(streams.errors.values())

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    print(
        f"\ntargets: added p50 at one client {added:+.2f} ms (<= 1 ms: {verdict(added <= 1.0)}); "
        f"{loaded:,.0f} proxied req/s at {args.clients} clients (>= 1,500 at 32: {verdict(loaded >= 1500)}); "
        f"{complete:,} of {args.streams:,} held streams complete, {failed} errors "
        f"(1,000 with no error: {verdict(args.streams >= 1000 and complete == args.streams and not failed)})"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of each closed-loop measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians are printed)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients of the loaded rows")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent streams held to the end")
    parser.add_argument("--chunks", type=int, default=20, help="chunks per streamed answer")
    parser.add_argument("--chunk-delay-s", type=float, default=0.1, help="the slow provider's gap between chunks")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s, 200 held streams: a smoke run")
    parser.add_argument(
        "--api-format",
        choices=("openai", "anthropic"),
        default="openai",
        help="what the fakes speak (the gateway is always called in OpenAI's format)",
    )
    parser.add_argument("--direct-only", action="store_true", help="the fake alone (its own capacity), no Daphne")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds, args.streams = 1.0, 1, min(args.streams, 200)
    return args


def run(args: argparse.Namespace, tmp: Path, stack: contextlib.ExitStack) -> None:
    import uvloop

    api_key = "sk-bench-" + os.urandom(8).hex()
    fast = FakeProcess(api_key, tmp / "fake-fast.log", api_format=args.api_format, mode="ok", chunks=args.chunks)
    stack.callback(fast.stop)
    slow = FakeProcess(
        api_key,
        tmp / "fake-slow.log",
        api_format=args.api_format,
        mode="slow",
        chunks=args.chunks,
        chunk_delay_s=args.chunk_delay_s,
    )
    stack.callback(slow.stop)
    direct = Target("direct to the fake", fast.port, api_key, UPSTREAM_MODEL, fast.proc.pid, args.api_format)
    slow_direct = Target("direct to the fake", slow.port, api_key, UPSTREAM_MODEL, slow.proc.pid, args.api_format)
    gateway = slow_gateway = daphne = None
    served_by = "not measured (--direct-only)"
    if not args.direct_only:
        env, token, has_gateway = prepare_site(tmp, fast, slow, api_key, args.api_format)
        daphne = Daphne(env, tmp / "daphne.log").start()
        stack.callback(daphne.stop)
        provider = check_gateway(daphne, token) if has_gateway else None
        served_by = f"served by {provider}" if provider else "not in this checkout (direct half only)"
        if provider:
            assert daphne.proc is not None  # start() started it
            gateway = Target("through the gateway", daphne.port, token, "bench-fast", daphne.proc.pid)
            slow_gateway = Target("through the gateway", daphne.port, token, "bench-slow", daphne.proc.pid)
    print(f"load average before: {os.getloadavg()[0]:.2f}; gateway: {served_by}", flush=True)
    uvloop.run(bench(args, direct, gateway, (slow_direct, slow_gateway), (fast.proc.pid, slow.proc.pid)))
    print(f"\nload average after: {os.getloadavg()[0]:.2f}", flush=True)
    if gateway is not None and daphne is not None:
        daphne.stop()  # its last settlements are written before it exits
        print_bookkeeping()


def exit_on_sigterm() -> None:
    """A SIGTERM (``kill``, ``timeout``) unwinds like Ctrl-C: the fakes and Daphne run in sessions of their own,
    so they outlive a script killed outright and keep their ports and CPU."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main() -> None:
    exit_on_sigterm()
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    try:
        with contextlib.ExitStack() as stack:
            run(args, tmp, stack)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
