"""The fenced code blocks of the project's Markdown manual, for the test that runs them.

A block whose info string is ``sh``, ``bash`` or ``python`` is a snippet a user
may paste; the others (``json``, ``console`` transcripts, plain blocks of output)
are not run. A snippet that cannot run inside a test (it starts the whole
system, or stops it) says so on the line before its fence, with the reason::

    <!-- not run by the tests: starts the whole system in the foreground -->
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RUNNABLE = {"sh": "sh", "bash": "sh", "python": "python"}
_SKIP = re.compile(r"<!--\s*not run by the tests:\s*(?P<reason>.+?)\s*-->")


@dataclass(frozen=True)
class Snippet:
    path: Path
    line: int  # of the opening fence, 1-based
    kind: str  # "sh" or "python"
    code: str
    skip_reason: str | None

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


def snippets_of(path: Path) -> list[Snippet]:
    """Every runnable block of ``path``, in document order."""
    found: list[Snippet] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```\s*(\S*)", lines[i])
        if not fence:
            i += 1
            continue
        start, info = i, fence.group(1).lower()
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        if info in RUNNABLE:
            before = next((lines[j] for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            skip = _SKIP.search(before)
            found.append(
                Snippet(path, start + 1, RUNNABLE[info], "\n".join(body) + "\n", skip.group("reason") if skip else None)
            )
    return found
