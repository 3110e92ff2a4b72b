"""Small pieces the Redis transport's loops share: options, backoff, loss logging."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, fields
from typing import Any

from agents.redis_streams import DEFAULT_REPLY_STREAM_MAXLEN, DEFAULT_REPLY_TTL_MS, DEFAULT_STREAM_MAXLEN


@dataclass(frozen=True)
class RedisTransportOptions:
    """Tunables of the Redis transport (``settings.REDIS_TRANSPORT`` overrides them)."""

    block_ms: int = 2000  # XREADGROUP BLOCK; also bounds how long stop() waits for a read
    read_count: int = 64  # XREADGROUP COUNT
    max_inflight: int = 64  # requests handled at once by one instance
    claim_idle_ms: int = 30_000  # a pending entry idle this long is reclaimed from its consumer
    claim_interval_ms: int = 0  # how often to look (0: a third of claim_idle_ms)
    max_deliveries: int = 5  # past this, a reclaimed entry is answered with an error and dropped
    # Liveness entry lifetime, refreshed every quarter of it: a killed instance stops counting as a
    # listener within about a second (the orchestrator's fallback then answers at once, not at timeout).
    live_ttl_ms: int = 1200
    stream_maxlen: int = DEFAULT_STREAM_MAXLEN
    reply_stream_maxlen: int = DEFAULT_REPLY_STREAM_MAXLEN
    reply_ttl_ms: int = DEFAULT_REPLY_TTL_MS
    expiry_grace_ms: int = 0  # clock slack past a caller's deadline (callers on other hosts only)
    max_frame_bytes: int = 1024 * 1024
    legacy_pubsub: bool = True  # also serve agent.<type>.request
    legacy_channel_prefix: str = ""  # before agent.<type>.request/response (one per deployment on a shared Redis)
    legacy_claim_ms: int = 60_000  # how long a legacy request id stays claimed by one instance

    @classmethod
    def from_settings(cls, **overrides: Any) -> RedisTransportOptions:
        values: dict[str, Any] = {}
        try:
            from django.conf import settings

            if settings.configured:
                values.update({k.lower(): v for k, v in getattr(settings, "REDIS_TRANSPORT", {}).items()})
                values.setdefault("max_frame_bytes", settings.ORCHESTRATOR.get("MAX_FRAME_BYTES", cls.max_frame_bytes))
        except ImportError:  # pragma: no cover - Django is always installed here
            pass
        values.update(overrides)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @property
    def live_every_s(self) -> float:
        return self.live_ttl_ms / 4000

    @property
    def claim_every_s(self) -> float:
        ms = self.claim_interval_ms or self.claim_idle_ms / 3
        return max(ms, 100) / 1000


class Backoff:
    """Growing, jittered delays for reconnect loops (jitter so instances do not stampede)."""

    def __init__(self, initial: float = 0.1, maximum: float = 5.0):
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self._next = self.initial


class ConnectionState:
    """Logs a lost Redis once, and its return once, however many loops notice."""

    def __init__(self, logger: logging.Logger, what: str):
        self.logger = logger
        self.what = what
        self.up = True

    async def failed(self, exc: BaseException, redis: Any = None) -> None:
        """A Redis call failed: log the loss (once) and drop idle pooled connections.

        Idle connections opened before an outage are dead; without dropping
        them, the first calls after Redis returns would fail again on them.
        """
        self.lost(exc)
        if redis is not None:
            try:
                await redis.connection_pool.disconnect(inuse_connections=False)
            except Exception:  # best effort: a pool that cannot disconnect is being closed anyway
                pass

    def lost(self, exc: BaseException) -> None:
        if self.up:
            self.up = False
            self.logger.warning("%s: Redis connection lost (%s); retrying with backoff", self.what, exc)

    def ok(self) -> None:
        if not self.up:
            self.up = True
            self.logger.warning("%s: Redis connection restored; listening again", self.what)
