"""First answer per idempotency key, remembered in Redis for a window.

The runner wraps ``Agent.handle`` with ``IdempotentHandle`` so that a retry
after a timeout, a failover from the socket path to Redis, or a reclaimed
stream entry that runs a second time returns the first answer instead of
doing the work again.

Which requests are keyed:

* any request with an ``idempotency_key`` (key ``k:<key>``);
* a request for a non-idempotent action without one, by its request id
  (``id:<id>``), when that id is a string. Integer ids are counters (the
  orchestrator's internal ids restart at 1 with the orchestrator), so they are
  not unique over a window and are never used as keys; the naming agent's
  database constraint covers those allocations.

Protocol, per key ``<prefix>idem:<agent type>:<k>``:

1. claim: ``SET key "P|<run>|<owner token>|<instance>|<fingerprint>" NX PX
   <pending ttl> GET`` (one atomic command). Nothing there: we run the
   handler. A done record: its answer is returned (with ``"replayed": true``).
   A pending record: another run is in progress; wait for its answer until the
   request's timeout, unless its owner is dead (below): then take the claim
   over (TAKEOVER_SCRIPT) and run.
2. done: COMPLETE_SCRIPT replaces our own pending record (or nothing, if it
   expired) by ``"D|<fingerprint>|<answer>"`` for the window. Transient errors
   (timeout, overload, shutdown, internal failure) are not remembered: the
   claim is released so a retry runs again.

The fingerprint is a digest of (action, data): the same key reused for a
different request gets a CONFLICT error, not someone else's answer.

Claims belong to a live owner. Each agent process holds
``<prefix>idem:<type>:owner:<instance>`` = its run token, with a short TTL
(``owner_ttl_s``, 1 s) refreshed four times per TTL. A claim whose owner key
is gone or holds another token (the process was killed; the orchestrator also
deletes the key at once when it sees the agent's socket drop without a
goodbye) is dead: a retry takes it over within about a second instead of
waiting for the claim's own expiry (``pending_ttl_s``, the backstop).

Redis unavailable: the store fails open (runs the handler, logs once), since
refusing every request while Redis is away would make Redis a single point of
failure for the socket path too.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agents import protocol
from agents.protocol import ErrorCode
from agents.redis_keys import RedisKeys
from agents.runtime import redis_conn
from agents.runtime.transport import Handle

logger = logging.getLogger(__name__)


# Store the answer only if we still hold the claim (or the claim lapsed and
# nobody else took it): a second runner that claimed after our claim expired
# keeps its own record.
# KEYS[1] = idempotency key
# ARGV[1] = our pending record, ARGV[2] = done record, ARGV[3] = window (ms)
COMPLETE_SCRIPT = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"""

# Take over a claim whose owner is dead (its owner key lapsed or was deleted, or holds another run's
# token), unless the claim changed meanwhile.
# KEYS[1] = idempotency key, KEYS[2] = the claim owner's key
# ARGV[1] = the pending record seen, ARGV[2] = the owner's token in it, ARGV[3] = our pending record,
# ARGV[4] = pending ttl (ms)
TAKEOVER_SCRIPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
"""

# Give up our claim (the run failed transiently; a retry should run again).
# KEYS[1] = idempotency key; ARGV[1] = our pending record
RELEASE_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

TRANSIENT_CODES = frozenset(
    {
        ErrorCode.TIMEOUT,
        ErrorCode.OVERLOADED,
        ErrorCode.SHUTTING_DOWN,
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.AGENT_UNAVAILABLE,
        ErrorCode.AGENT_DISCONNECTED,
    }
)


@dataclass(frozen=True)
class IdempotencyOptions:
    window_s: float = 3600.0  # how long a first answer is remembered
    pending_ttl_s: float = 30.0  # a claim held by a run that died lapses after this
    wait_s: float = 30.0  # longest wait for another run's answer (capped by the request's timeout)
    op_timeout_s: float = 1.0  # a Redis call slower than this counts as Redis being away
    owner_ttl_s: float = 1.0  # a killed process's claims are taken over this long after its death

    @classmethod
    def from_settings(cls) -> IdempotencyOptions:
        from django.conf import settings

        raw = getattr(settings, "IDEMPOTENCY", {})
        return cls(**{k.lower(): float(v) for k, v in raw.items() if k.lower() in cls.__dataclass_fields__})


class IdempotencyStore:
    def __init__(self, *, redis_url: str, prefix: str, options: IdempotencyOptions | None = None):
        self.redis_url = redis_url
        self.keys = RedisKeys(prefix)
        self.options = options or IdempotencyOptions.from_settings()
        self.redis: aioredis.Redis | None = None
        self._redis_up = True
        self.token = uuid.uuid4().hex  # this process's run: claims name it as their owner
        self.agent_type = ""
        self.instance_id = ""
        self._owner_key = ""
        self._refresher: asyncio.Task[None] | None = None

    async def start(self, *, agent_type: str, instance_id: str) -> None:
        """Open the client and start holding the owner key (Redis down now: the refresher retries).

        ``agent_type`` must be the type whose requests this store handles: claims name their owner by
        instance, and others find the owner key under the claim's type.
        """
        self.redis = redis_conn.acquire(self.redis_url)
        self._complete = self.redis.register_script(COMPLETE_SCRIPT)
        self._release = self.redis.register_script(RELEASE_SCRIPT)
        self._takeover = self.redis.register_script(TAKEOVER_SCRIPT)
        self.agent_type = agent_type
        self.instance_id = instance_id or f"run-{self.token}"
        self._owner_key = self.keys.idempotency_owner(agent_type, self.instance_id)
        await self._quiet(self._refresh_owner())
        self._refresher = asyncio.get_running_loop().create_task(self._owner_loop(), name="idempotency-owner")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None
        if self.redis is not None:
            # Our claims were released or completed by their runs; the owner key goes with us.
            await self._quiet(self._release(keys=[self._owner_key], args=[self.token]))
            await redis_conn.release(self.redis)
            self.redis = None

    async def _refresh_owner(self) -> None:
        assert self.redis is not None  # start() acquired it
        await self._call(self.redis.set(self._owner_key, self.token, px=int(self.options.owner_ttl_s * 1000)))

    async def _owner_loop(self) -> None:
        while True:
            await asyncio.sleep(self.options.owner_ttl_s / 4)
            try:
                await self._refresh_owner()
                self._ok()
            except (TimeoutError, RedisError, OSError) as exc:
                self._lost(exc)

    async def run(
        self,
        agent_type: str,
        key: str,
        fingerprint: str,
        request: dict[str, Any],
        execute: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """``execute()``'s answer, or the first answer remembered under ``key``."""
        rkey = self.keys.idempotency(agent_type, key)
        mine = f"P|{uuid.uuid4().hex}|{self.token}|{self.instance_id}|{fingerprint}".encode()
        wait_s = min(self.options.wait_s, (request.get("timeout_ms") or self.options.wait_s * 1000) / 1000)
        deadline = asyncio.get_running_loop().time() + wait_s
        assert self.redis is not None  # start() acquired it
        delay = 0.02
        while True:
            try:
                current = await self._call(
                    self.redis.set(rkey, mine, nx=True, get=True, px=int(self.options.pending_ttl_s * 1000))
                )
            except (TimeoutError, RedisError, OSError) as exc:
                self._lost(exc)
                return await execute()  # fail open
            self._ok()
            if current is None:
                return await self._execute_and_store(rkey, mine, fingerprint, execute)
            kind, _, rest = current.partition(b"|")
            if kind == b"D":
                stored_fp, _, answer = rest.partition(b"|")
                return self._replay(request, key, fingerprint, stored_fp.decode(), answer)
            if kind == b"P" and rest.rpartition(b"|")[2].decode() != fingerprint:
                return self._conflict(request, key)
            if kind == b"P" and await self._take_over_dead_claim(agent_type, rkey, current, mine):
                return await self._execute_and_store(rkey, mine, fingerprint, execute)
            if asyncio.get_running_loop().time() >= deadline:
                return protocol.error(
                    request.get("id"),
                    ErrorCode.CONFLICT,
                    "A request with this idempotency key is still being handled; retry later",
                    {**_caller_key(request), "in_progress": True},
                )
            await asyncio.sleep(delay)  # another run holds the claim: wait for its answer
            delay = min(delay * 2, 0.25)

    async def _take_over_dead_claim(self, agent_type: str, rkey: str, current: bytes, mine: bytes) -> bool:
        """True when ``current`` (a pending record) belonged to a dead owner and is now ours."""
        parts = current.split(b"|", 3)  # P, run, owner token, "<instance>|<fingerprint>"
        if len(parts) < 4 or b"|" not in parts[3]:
            return False  # an older record without an owner: it lapses by its TTL
        token, instance = parts[2], parts[3].rpartition(b"|")[0]
        owner_key = self.keys.idempotency_owner(agent_type, instance.decode(errors="replace"))
        try:
            taken = await self._call(
                self._takeover(
                    keys=[rkey, owner_key], args=[current, token, mine, int(self.options.pending_ttl_s * 1000)]
                )
            )
        except (TimeoutError, RedisError, OSError) as exc:
            self._lost(exc)
            return False
        if taken:
            logger.warning(
                "Idempotency key %s: its claim's owner %s is gone; running it here",
                rkey,
                instance.decode(errors="replace"),
            )
        return bool(taken)

    async def _execute_and_store(
        self, rkey: str, mine: bytes, fingerprint: str, execute: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        try:
            response = await execute()
        except BaseException:
            await self._quiet(self._release(keys=[rkey], args=[mine]))
            raise
        code = (response.get("error") or {}).get("code") if response.get("status") == "error" else None
        if code in TRANSIENT_CODES:
            await self._quiet(self._release(keys=[rkey], args=[mine]))
        else:
            done = b"D|" + fingerprint.encode() + b"|" + orjson.dumps(response, default=str)
            await self._quiet(self._complete(keys=[rkey], args=[mine, done, int(self.options.window_s * 1000)]))
        return response

    def _replay(
        self, request: dict[str, Any], key: str, fingerprint: str, stored_fp: str, answer: bytes
    ) -> dict[str, Any]:
        if stored_fp != fingerprint:
            return self._conflict(request, key)
        frame = orjson.loads(answer)
        frame["id"] = request.get("id")
        frame["replayed"] = True
        return frame

    @staticmethod
    def _conflict(request: dict[str, Any], key: str) -> dict[str, Any]:
        return protocol.error(
            request.get("id"),
            ErrorCode.CONFLICT,
            "This idempotency key was already used for a different request",
            _caller_key(request),
        )

    async def _call(self, awaitable: Awaitable[Any]) -> Any:
        if self.redis is None:
            raise RedisError("idempotency store not started")
        async with asyncio.timeout(self.options.op_timeout_s):
            return await awaitable

    async def _quiet(self, awaitable: Awaitable[Any]) -> None:
        try:
            await self._call(awaitable)
        except (TimeoutError, RedisError, OSError) as exc:
            self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        if self._redis_up:
            self._redis_up = False
            logger.warning("Idempotency store: Redis unavailable (%s); handling requests without it", exc)

    def _ok(self) -> None:
        if not self._redis_up:
            self._redis_up = True
            logger.warning("Idempotency store: Redis available again")


def idempotency_key_of(request: dict[str, Any], *, action_is_idempotent: bool) -> str | None:
    """The key a request is remembered under, or None (see the module docstring)."""
    explicit = request.get("idempotency_key")
    if explicit:
        return f"k:{explicit}"
    rid = request.get("id")
    if not action_is_idempotent and isinstance(rid, str) and rid:
        return f"id:{rid}"
    return None


def _caller_key(request: dict[str, Any]) -> dict[str, Any]:
    """What a CONFLICT's details name: the key as the caller sent it (or the request id it
    stands in for), never the store's internal form ("k:...", "id:...")."""
    explicit = request.get("idempotency_key")
    return {"idempotency_key": explicit} if explicit else {"id": request.get("id")}


def fingerprint_of(request: dict[str, Any]) -> str:
    body = orjson.dumps([request.get("action"), request.get("data") or {}], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(body).hexdigest()[:32]


class IdempotentHandle:
    """``handle(request, transport)`` with first-answer memory; the runner passes this to its transports."""

    def __init__(self, agent: Any, store: IdempotencyStore | None, handle: Handle | None = None):
        self.agent = agent
        self.store = store
        self.inner: Handle = handle or (lambda request, transport: agent.handle(request, transport=transport))

    def __call__(self, request: dict[str, Any], transport: str) -> Coroutine[Any, Any, dict[str, Any]]:
        # Not ``async def``: a request that needs no memory (no key: echo, integer ids) gets the inner
        # handler's coroutine itself, one coroutine less per request on the hot path. Callers await
        # (or ``send()``) the result either way.
        if self.store is None:
            return self.inner(request, transport)
        spec = self.agent.actions.get(request.get("action", ""))
        key = None if spec is None else idempotency_key_of(request, action_is_idempotent=spec.idempotent)
        if key is None:
            return self.inner(request, transport)
        return self.store.run(
            self.agent.agent_type, key, fingerprint_of(request), request, lambda: self.inner(request, transport)
        )

    async def start(self) -> None:
        if self.store is not None:
            await self.store.start(agent_type=self.agent.agent_type, instance_id=self.agent.instance_id)

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()


def wrap_handle(agent: Any, handle: Handle) -> IdempotentHandle:
    """The runner's hook: ``handle`` with first-answer memory (settings.IDEMPOTENCY, REDIS_URL).

    The returned object has ``start()`` / ``close()``, which the runner awaits
    around serving so the Redis client lives exactly as long as the agent.
    """
    from django.conf import settings

    if not getattr(settings, "IDEMPOTENCY", {}).get("ENABLED", True):
        return IdempotentHandle(agent, None, handle)
    store = IdempotencyStore(
        redis_url=settings.REDIS_URL, prefix=settings.REDIS_KEY_PREFIX, options=IdempotencyOptions.from_settings()
    )
    return IdempotentHandle(agent, store, handle)
