"""Every Redis key and channel name the project uses, built in one place.

All keys carry one configurable prefix (``settings.REDIS_KEY_PREFIX``, "orch:"
by default) so several deployments or test runs can share one Redis without
seeing each other's data. The exception is the legacy pub/sub channels,
``agent.<type>.request`` / ``agent.<type>.response``: older clients publish on
those exact names, so by default they carry no prefix. Pub/sub ignores the
database number too, so two deployments on one Redis server both execute every
legacy request: give each its own ``REDIS_TRANSPORT["LEGACY_CHANNEL_PREFIX"]``
(``"<prefix>agent.<type>.request"``; empty by default) and point its old
clients at those names (docs/redis.md).

No Django import at module level: the script library uses this without a
configured Django; ``RedisKeys.from_settings()`` reads the prefix lazily.
"""

from __future__ import annotations

from dataclasses import dataclass

# The one consumer group of every request stream; each agent instance is a
# consumer in it (its instance id is the consumer name).
CONSUMER_GROUP = "agents"


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = "orch:"
    legacy_channel_prefix: str = ""

    @classmethod
    def from_settings(cls, prefix: str | None = None) -> RedisKeys:
        from django.conf import settings

        if prefix is None:
            prefix = getattr(settings, "REDIS_KEY_PREFIX", "orch:")
        return cls(prefix, getattr(settings, "REDIS_TRANSPORT", {}).get("LEGACY_CHANNEL_PREFIX", ""))

    # --- streams path ---------------------------------------------------------
    def stream(self, agent_type: str) -> str:
        """The request stream of one agent type (consumer group CONSUMER_GROUP)."""
        return f"{self.prefix}stream:{agent_type}"

    def reply_list(self, token: str) -> str:
        """A per-request reply key: the agent LPUSHes the answer, the caller BLPOPs it."""
        return f"{self.prefix}reply:{token}"

    def reply_stream(self, client_id: str) -> str:
        """A per-client reply stream: one reader per client process, answers matched by id."""
        return f"{self.prefix}replies:{client_id}"

    def caller(self, client_id: str) -> str:
        """Held (short TTL) by a live ``StreamRequester`` process: agents run only entries of live callers."""
        return f"{self.prefix}caller:{client_id}"

    def live(self, agent_type: str) -> str:
        """Sorted set of live Redis consumers of a type: member instance id, score expiry (ms)."""
        return f"{self.prefix}live:{agent_type}"

    # --- idempotency and legacy de-duplication ------------------------------------
    def idempotency(self, agent_type: str, key: str) -> str:
        return f"{self.prefix}idem:{agent_type}:{key}"

    def idempotency_owner(self, agent_type: str, instance_id: str) -> str:
        """Held by a live agent process (value: its run token, short TTL): its idempotency claims are valid.

        Under the idempotency namespace (claims are ``k:...`` / ``id:...``, so no clash), which the
        type's Redis ACL user may already write.
        """
        return self.idempotency(agent_type, f"owner:{instance_id}")

    def legacy_claim(self, agent_type: str, token: str) -> str:
        """SET NX by the one instance that answers a legacy pub/sub request."""
        return f"{self.prefix}legacy:{agent_type}:{token}"

    def pattern(self) -> str:
        """A SCAN pattern matching every key of this prefix (tests clean up with it)."""
        return f"{self.prefix}*"

    # --- legacy pub/sub (unprefixed by default: a fixed point of old clients) ---------
    def legacy_request_channel(self, agent_type: str) -> str:
        return f"{self.legacy_channel_prefix}agent.{agent_type}.request"

    def legacy_response_channel(self, agent_type: str) -> str:
        return f"{self.legacy_channel_prefix}agent.{agent_type}.response"
