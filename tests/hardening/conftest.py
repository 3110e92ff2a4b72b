"""Fixtures for the hardening tests: one real system per module, snapshots of stored state."""

from __future__ import annotations

import secrets
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.e2e.redis_helpers import delete_prefix
from tests.support.system import System

SILENT_TIMEOUT_S = 3.0


@pytest.fixture(scope="package")
def fuzz_system() -> Iterator[System]:
    """Orchestrator + a probe agent + a naming agent, shared by the package (starting one costs seconds).

    Hellos need a token (so fuzzed hellos cannot join as agents). Tests that
    need other agents start them on this system with their own instance ids.
    """
    system = System(
        env={
            "ORCHESTRATOR_AGENT_TOKEN": secrets.token_urlsafe(24),
            "ORCHESTRATOR_CLIENT_SILENT_TIMEOUT_S": str(SILENT_TIMEOUT_S),
        }
    )
    try:
        system.start()
        system.start_agent("probe", "HZ-PROBE-1")
        system.start_agent("naming", "HZ-NAMING-1")
        # Something stored before the fuzzing starts, to prove it is not changed by it.
        for i in range(3):
            frame = system.request(
                "naming",
                "allocate_namespace",
                {"project": "hardening", "environment": "test"},
                idempotency_key=f"hz-seed-{i}",
                timeout_ms=30_000,
            )
            assert frame["status"] == "success", frame
        yield system
    finally:
        system.stop()
        delete_prefix(system)  # stream, liveness and idempotency keys of the Redis-side tests


# Counters move forward when a fuzzed frame happens to be a valid allocation; every other row must stay.
MUTABLE_TABLES = frozenset({"naming_sequencecounter"})


def table_snapshot(db_path: Path, prefixes: tuple[str, ...] = ("naming_", "agents_agenttype")) -> dict[str, list]:
    """Every row of the tables whose names start with ``prefixes`` (read straight from the SQLite file)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        tables = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if r[0].startswith(prefixes) and r[0] not in MUTABLE_TABLES
        ]
        return {t: conn.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}
    finally:
        conn.close()


def assert_unchanged(before: dict[str, list], after: dict[str, list]) -> None:
    """Rows stored before are all still there, identical (new rows are allowed: a fuzzed frame may be valid)."""
    for table, rows in before.items():
        missing = [row for row in rows if row not in after.get(table, [])]
        assert not missing, f"{table}: rows changed or lost: {missing[:3]}"


class LineSocket:
    """A blocking Unix socket speaking newline-delimited frames (what ``nc -U`` does)."""

    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self.eof = False

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_frame(self) -> dict[str, Any] | None:
        """The next frame, or None at EOF."""
        while b"\n" not in self.buf:
            if self.eof:
                return None
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                if not self.buf.strip():
                    return None
                self.buf += b"\n"
                break
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return orjson.loads(line)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> LineSocket:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def read_until(conn: LineSocket, request_id: str, timeout: float = 30.0) -> tuple[list[dict[str, Any]], bool]:
    """Frames up to and including the answer to ``request_id``; (frames, closed) if EOF came first."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = conn.read_frame()
        if frame is None:
            return frames, True
        frames.append(frame)
        if frame.get("id") == request_id and "status" in frame:
            return frames, False
    raise AssertionError(f"no answer to {request_id} within {timeout} s; got {frames[-5:]}")


@pytest.fixture
def snapshot_guard(fuzz_system: System) -> Iterator[None]:
    before = table_snapshot(fuzz_system.db_path)
    yield
    assert_unchanged(before, table_snapshot(fuzz_system.db_path))
