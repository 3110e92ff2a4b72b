"""Agent authentication: per-type secret tokens, stored only as a hash.

An agent type may carry a token (``AgentType.token_hash`` = SHA-256 hex of
it). When it does, an agent's hello on that type's socket must present the
token; the orchestrator compares hashes in constant time and answers a wrong
or missing one with UNAUTHORIZED and a close. Types without a token accept
any hello, so a fresh machine works before an operator sets one.

Why plain SHA-256 and not a password hasher: the token is 256 random bits
(``secrets.token_urlsafe(32)``), so there is nothing to brute-force and a
slow hash would only slow down every agent start. The same hex digest is
what Redis ACL stores for a password (``#<sha256>``), so one token can also
be an agent's Redis password (agents/redis_acl.py).

The agent side reads its token from ``AGENT_TOKEN_<TYPE>``, ``AGENT_TOKEN``,
or the file ``<AGENT_TOKEN_DIR>/<type>.token`` (default ``var/agent_tokens``;
the file must be 0600 and owned by the user, as ssh insists for its keys).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def token_matches(token: Any, expected_hash: str) -> bool:
    """Constant-time check of a presented token against a stored hash (anything not a str fails)."""
    if not isinstance(token, str) or not token or not expected_hash:
        return False
    return hmac.compare_digest(token_hash(token), expected_hash)


# --- services (sync ORM) ---------------------------------------------------------------------------


def agent_token_rotate(*, agent_type: str) -> str:
    """Give ``agent_type`` a new random token and return it; only its hash is stored (show it once)."""
    from django.utils import timezone

    from agents.models import AgentType

    token = secrets.token_urlsafe(TOKEN_BYTES)
    updated = AgentType.objects.filter(name=agent_type).update(
        token_hash=token_hash(token), token_rotated_at=timezone.now(), updated_at=timezone.now()
    )
    if updated != 1:
        raise AgentType.DoesNotExist(f"No agent type named {agent_type!r}")
    logger.info("Agent token of type %s rotated", agent_type)
    return token


def agent_token_clear(*, agent_type: str) -> None:
    """Remove the type's token: its socket accepts any hello again (not recommended outside development)."""
    from django.utils import timezone

    from agents.models import AgentType

    updated = AgentType.objects.filter(name=agent_type).update(
        token_hash="", token_rotated_at=timezone.now(), updated_at=timezone.now()
    )
    if updated != 1:
        raise AgentType.DoesNotExist(f"No agent type named {agent_type!r}")
    logger.info("Agent token of type %s cleared", agent_type)


def agent_token_hashes() -> dict[str, str]:
    """Selector: {type name: token hash} for every type that has a token (read by the orchestrator)."""
    from agents.models import AgentType

    return dict(AgentType.objects.exclude(token_hash="").values_list("name", "token_hash"))


# --- the orchestrator's check ------------------------------------------------------------------------


class HelloAuth:
    """What the orchestrator checks in a hello: the type's token if it has one, else the global one.

    ``hashes`` is refreshed from the database by the orchestrator (at start and
    with the agent types); ``global_token`` is the older ORCHESTRATOR_AGENT_TOKEN,
    used only for types without a token of their own.
    """

    def __init__(self, global_token: str = "") -> None:
        self.global_token = global_token
        self.hashes: dict[str, str] = {}

    def allows(self, agent_type: str, token: Any, *, peer: str = "") -> bool:
        expected = self.hashes.get(agent_type)
        if expected:
            ok = token_matches(token, expected)
        elif self.global_token:
            ok = isinstance(token, str) and hmac.compare_digest(
                token.encode("utf-8", "surrogatepass"), self.global_token.encode()
            )
        else:
            return True
        if not ok:
            logger.warning(
                "Refused an agent hello on the %s socket: %s token%s",
                agent_type,
                "missing" if not token else "wrong",
                f" ({peer})" if peer else "",
            )
        return ok


# --- the agent's side --------------------------------------------------------------------------------


def token_dir() -> Path:
    """settings.AGENTS["TOKEN_DIR"] (AGENT_TOKEN_DIR, default var/agent_tokens)."""
    from django.conf import settings

    return Path(settings.AGENTS["TOKEN_DIR"])


def token_env_name(agent_type: str) -> str:
    return "AGENT_TOKEN_" + re.sub(r"[^A-Za-z0-9]", "_", agent_type).upper()


def token_file(agent_type: str, directory: Path | None = None) -> Path:
    return (directory or token_dir()) / f"{agent_type}.token"


def agent_token_write_file(*, agent_type: str, token: str, directory: Path | None = None) -> Path:
    """Store ``token`` where the agent finds it: a 0600 file in a 0700 directory, written atomically."""
    directory = directory or token_dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    path = token_file(agent_type, directory)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, token.encode() + b"\n")
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def agent_token_remove_file(*, agent_type: str, directory: Path | None = None) -> None:
    token_file(agent_type, directory).unlink(missing_ok=True)


def _read_private_file(path: Path) -> str | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.error(
            "Ignoring agent token file %s: it must be owned by this user and mode 0600 (is %04o)",
            path,
            stat.S_IMODE(st.st_mode),
        )
        return None
    return path.read_text().strip() or None


def agent_token_from_environment(
    agent_type: str, *, environ: Mapping[str, str] | None = None, directory: Path | None = None
) -> str | None:
    """The token this agent presents in its hello, or None.

    Order: AGENT_TOKEN_<TYPE>, AGENT_TOKEN, the token file, then the older
    shared ORCHESTRATOR_AGENT_TOKEN.
    """
    # Read here, at the agent's start, not in settings.py: the variable's name depends on the agent type
    # (like a provider's api_key_env), and a token is a secret best kept out of the settings module.
    env = os.environ if environ is None else environ
    for name in (token_env_name(agent_type), "AGENT_TOKEN"):
        if env.get(name):
            return env[name]
    from_file = _read_private_file(token_file(agent_type, directory))
    if from_file:
        return from_file
    return env.get("ORCHESTRATOR_AGENT_TOKEN") or None
