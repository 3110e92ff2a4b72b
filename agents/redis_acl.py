"""Redis-side agent trust: one Redis ACL user per agent type, its password the type's agent token.

Why ACL users and not signed stream entries: Redis enforces them for every
command (streams, the legacy pub/sub channels, Lua scripts, reply keys) with
no change to the wire format that older agents and clients speak, and Redis
stores a password only as its SHA-256, which is exactly ``AgentType.token_hash``.
So the orchestrator can (re)create the user from the database without ever
seeing the token, and the agent logs in with the token it already has:

    REDIS_URL=redis://agent-naming:<token>@127.0.0.1:6379/0 manage.py run_agent naming --transport redis

The user may touch only its own type's keys (stream, liveness set,
idempotency records, legacy claims) and the reply keys, publish and
subscribe only on ``agent.<type>.request|response``, and run no dangerous or
admin command. This adds trust only when the Redis ``default`` user is
disabled or has a password (``ACL SETUSER default off`` or ``requirepass``);
an operator decision we do not take for them (see SECURITY.md).
"""

from __future__ import annotations

from typing import Any

import redis

from agents.redis_keys import RedisKeys

USER_PREFIX = "agent-"


def acl_user_name(agent_type: str) -> str:
    return f"{USER_PREFIX}{agent_type}"


def acl_rules(*, agent_type: str, prefix: str, legacy_channel_prefix: str = "") -> list[str]:
    """ACL SETUSER rules (after ``reset``) for the agents of ``agent_type`` under the key ``prefix``."""
    keys = RedisKeys(prefix, legacy_channel_prefix)
    patterns = [
        keys.stream(agent_type),
        keys.live(agent_type),
        keys.idempotency(agent_type, "*"),
        keys.legacy_claim(agent_type, "*"),
        keys.reply_list("*"),
        keys.reply_stream("*"),
        keys.caller("*"),
    ]
    channels = [keys.legacy_request_channel(agent_type), keys.legacy_response_channel(agent_type)]
    return (
        [f"~{p}" for p in patterns]
        + [f"&{c}" for c in channels]
        + [
            "+@read",
            "+@write",
            "+@stream",
            "+@pubsub",
            "+@scripting",
            "+@connection",
            "+@transaction",
            "+@keyspace",
            "-@dangerous",
            "-@admin",
            "-@blocking",
            "+blpop",
            "+brpop",
            "+xread",
            "+xreadgroup",
            "+client|setname",
            "+client|id",
            "+info",
        ]
    )


def redis_acl_apply(
    *,
    agent_type: str,
    token_hash: str,
    redis_url: str,
    prefix: str,
    legacy_channel_prefix: str = "",
    client: Any = None,
) -> str:
    """Create or replace the type's ACL user with the given password hash; returns the user name."""
    if len(token_hash) != 64:
        raise ValueError("token_hash must be a SHA-256 hex digest (rotate the type's token first)")
    user = acl_user_name(agent_type)
    conn = client or redis.Redis.from_url(redis_url)
    try:
        conn.execute_command(
            "ACL",
            "SETUSER",
            user,
            "reset",
            "on",
            f"#{token_hash}",
            *acl_rules(agent_type=agent_type, prefix=prefix, legacy_channel_prefix=legacy_channel_prefix),
        )
    finally:
        if client is None:
            conn.close()
    return user


def redis_acl_remove(*, agent_type: str, redis_url: str, client: Any = None) -> None:
    conn = client or redis.Redis.from_url(redis_url)
    try:
        conn.execute_command("ACL", "DELUSER", acl_user_name(agent_type))
    finally:
        if client is None:
            conn.close()
