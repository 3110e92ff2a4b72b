"""Provider keys from a file the web process reads when it starts, so a key is given or rotated with
``supervisorctl restart web``, not a restart of the whole system.

The gateway reads a provider's key from the environment variable the provider names (``api_key_env``: the
secret itself is never stored in the database). supervisord hands its programs the environment it was
started with, so a variable exported later reached no process. This file (GATEWAY_KEYS_FILE, by default
``var/provider-keys.env``) is read again at every start of the web process:

    # comments and blank lines are ignored
    LLAMA_CPP_KEY=sk-local-123
    ANTHROPIC_API_KEY="sk-ant-..."      (one pair of surrounding quotes is removed; nothing is expanded)

A name in the file wins over the same name inherited from the environment (the file is where keys are
changed); the log says which names were read or replaced, never a value. The file must be private: ours is
made 0600 as everything under var/ is (orchestrator_site/filemodes.py), and one that still lets group or
others read it (another user's) is refused, as ssh refuses a readable private key: the keys are money.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

from orchestrator_site.filemodes import make_private

logger = logging.getLogger(__name__)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class KeysFileError(ValueError):
    """The file cannot be used: where and why (never a value)."""


def parse(text: str, *, source: str = "keys file") -> dict[str, str]:
    """``NAME=value`` lines; raises KeysFileError naming the first bad line."""
    pairs: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not sep or not _NAME.fullmatch(name):
            raise KeysFileError(f"{source}, line {number}: expected NAME=value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        pairs[name] = value
    return pairs


def load(path: Path) -> list[str]:
    """Put the file's variables into this process's environment; the names read ([] when there is no file).
    Raises KeysFileError when the file is readable by others or malformed (nothing is loaded then)."""
    make_private(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeysFileError(f"{path} may be read by other users (mode {stat.filemode(mode)}): chmod 600 {path}")
    pairs = parse(path.read_text(encoding="utf-8"), source=str(path))
    replaced = [name for name, value in pairs.items() if os.environ.get(name, value) != value]
    os.environ.update(pairs)
    if replaced:
        logger.info("provider keys file %s replaced the inherited %s", path, ", ".join(sorted(replaced)))
    logger.info("provider keys file %s: read %s", path, ", ".join(sorted(pairs)) or "no variables")
    return sorted(pairs)


def load_configured() -> list[str]:
    """``load`` of GATEWAY_KEYS_FILE; a bad file is logged as an error and skipped (the server still starts:
    providers whose key is missing are excluded with ``no_credentials``)."""
    from llmgateway import conf

    path = Path(conf.get("KEYS_FILE"))
    try:
        return load(path)
    except (KeysFileError, OSError, UnicodeDecodeError) as exc:
        logger.error("provider keys file not loaded: %s", exc)
        return []
