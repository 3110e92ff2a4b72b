"""The manual runs as written: every sh and python snippet of README.md and docs/*.md,
pasted as it stands, against the whole system started the way `python3 dev.py run` does.

Each document is one terminal session: its snippets run in order, sh ones with
bash from the project's directory, python ones with .venv/bin/python from a
directory outside the project (the editable install must make the imports
work), and what a sh snippet exports (``export TOKEN=...``) is there for the
snippets after it. The one thing changed on the way is the port: the system
under test listens on a free one, not on 8090. A snippet fails on a non-zero
exit, on a timeout, or when it prints an error frame.

The README's gateway snippets need a provider that answers; the one it names
for a machine without API keys is Local Llama on a local Ollama. A fake
provider (a real HTTP server speaking OpenAI's format, no key) stands in for
that Ollama: Local Llama's ``api_base`` is pointed at it, nothing else changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_supervisor import Supervised
from tests.support.fake_provider import FakeProvider
from tests.support.snippets import Snippet, snippets_of
from tests.support.system import PROJECT_ROOT

DOCUMENTS = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
SNIPPET_TIMEOUT_S = 120.0  # generous: two shared cores, eight busy processes
ERROR_FRAME = re.compile(r"""["']status["']\s*:\s*["']error["']""")  # JSON, or a printed dict
VENV_PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"


def _documented() -> list[Snippet]:
    return [s for doc in DOCUMENTS for s in snippets_of(doc)]


# --- without a system: what can be checked by reading ------------------------------------------


@pytest.mark.parametrize("snippet", _documented(), ids=lambda s: s.where)
def test_every_snippet_parses(snippet: Snippet) -> None:
    if snippet.kind == "python":
        compile(snippet.code, snippet.where, "exec")  # also refuses an await outside a function
    else:
        check = subprocess.run(["bash", "-n"], input=snippet.code, capture_output=True, text=True)
        assert check.returncode == 0, f"{snippet.where}: {check.stderr}"


@pytest.mark.parametrize("snippet", _documented(), ids=lambda s: s.where)
def test_snippets_use_the_projects_interpreter(snippet: Snippet) -> None:
    # `python manage.py` / `manage.py` alone is not what a fresh machine has: the packages are in .venv.
    for number, line in enumerate(snippet.code.splitlines(), snippet.line + 1):
        assert not re.search(
            r"(^|[\s;|&(])(python3?\s+manage\.py|manage\.py)\b", line.replace(".venv/bin/python manage.py", "")
        ), f"{snippet.path.name}:{number}: use .venv/bin/python manage.py"


def test_the_client_imports_from_any_directory(tmp_path: Path) -> None:
    # pyproject.toml + `pip install -e .` (python3 dev.py setup): no PYTHONPATH, not the project's directory.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [
            str(VENV_PYTHON),
            "-c",
            "from agents.client import Client; import agents, llmgateway; "
            "print(agents.__file__); print(llmgateway.__file__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"not installed in .venv (python3 dev.py setup does it):\n{done.stderr}"
    assert all(Path(line).is_relative_to(PROJECT_ROOT) for line in done.stdout.split()), done.stdout


# --- against the running system ---------------------------------------------------------------


def _point_local_llama_at(supervised: Supervised, base_url: str) -> None:
    code = (
        "from llmrouter.models import Provider\n"
        f"assert Provider.objects.filter(key='local-llama').update(api_base={base_url!r}) == 1\n"
    )
    subprocess.run(
        [str(VENV_PYTHON), str(PROJECT_ROOT / "manage.py"), "shell", "-c", code],
        cwd=PROJECT_ROOT,
        env=supervised.env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def system() -> Iterator[Supervised]:
    supervised = Supervised()
    with FakeProvider(api_format="openai", api_key="") as ollama:
        try:
            supervised.start()
            _point_local_llama_at(supervised, ollama.base_url)
            yield supervised
        finally:
            supervised.stop()


def _env_after(state: Path, fallback: dict[str, str]) -> dict[str, str]:
    if not state.exists() or not state.read_bytes():
        return fallback
    pairs = (item.split("=", 1) for item in state.read_text().split("\0") if "=" in item)
    return {key: value for key, value in pairs}


def run_snippet(snippet: Snippet, env: dict[str, str], port: int, scratch: Path) -> dict[str, str]:
    """Run one snippet; the environment the next one of the same document starts with."""
    code = snippet.code.replace("127.0.0.1:8090", f"127.0.0.1:{port}").replace("localhost:8090", f"localhost:{port}")
    state = scratch / "env"
    state.unlink(missing_ok=True)
    if snippet.kind == "sh":
        script = f"set -eo pipefail\n{code}\nenv -0 > {state}\n"
        cmd, cwd = ["bash", "-c", script], PROJECT_ROOT
    else:
        cmd, cwd = [str(VENV_PYTHON if VENV_PYTHON.exists() else sys.executable), "-c", code], scratch
    try:
        done = subprocess.run(
            cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=SNIPPET_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        # bytes even with text=True (subprocess.run's timeout keeps what it read undecoded)
        out, err = (x.decode(errors="replace") if isinstance(x, bytes) else x for x in (exc.stdout, exc.stderr))
        raise AssertionError(
            f"{snippet.where} did not finish in {SNIPPET_TIMEOUT_S:.0f} s:\n{snippet.code}"
            f"\n--- output ---\n{out}\n{err}"
        ) from None
    output = f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    assert done.returncode == 0, f"{snippet.where} exited with {done.returncode}:\n{snippet.code}{output}"
    assert not ERROR_FRAME.search(done.stdout), f"{snippet.where} printed an error frame:\n{snippet.code}{output}"
    return _env_after(state, env) if snippet.kind == "sh" else env


@pytest.mark.e2e
@pytest.mark.timeout(1500)
@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_the_documents_snippets_run_as_written(system: Supervised, document: Path) -> None:
    snippets = [s for s in snippets_of(document) if s.skip_reason is None]
    if not snippets:
        pytest.skip(f"{document.name} has no snippet to run")
    env = {k: v for k, v in system.env.items() if k not in ("PYTHONPATH",)}
    env["PATH"] = os.environ.get("PATH", "/usr/bin:/bin")
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="snippets-", dir="/tmp") as scratch:
        for snippet in snippets:
            if snippet.kind == "sh" and re.search(r"\bnc\b", snippet.code) and shutil.which("nc") is None:
                skipped.append(snippet.where)  # as the other nc tests: python3 dev.py test installs it
                continue
            env = run_snippet(snippet, env, system.port, Path(scratch))
    if skipped:
        pytest.skip(f"nc (netcat-openbsd) is not installed: not run: {', '.join(skipped)}")
