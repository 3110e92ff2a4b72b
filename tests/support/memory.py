"""A process's resident memory, read from /proc (the memory tests and benchmarks)."""

from __future__ import annotations

from pathlib import Path


def rss_kb(pid: int) -> int:
    """``pid``'s resident set size in KiB; AssertionError for a process that has none (a zombie)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def rss_mb(pid: int) -> float:
    return rss_kb(pid) / 1024
