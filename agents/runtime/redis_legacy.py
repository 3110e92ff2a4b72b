"""The legacy half of the Redis transport: ``agent.<type>.request`` pub/sub.

Older clients publish ``{"action", "params", "request_id"}`` (or the current
envelope) on ``agent.<type>.request`` and listen on ``agent.<type>.response``
for a frame carrying their ``request_id``. Both channel names are fixed points,
unprefixed by default; ``REDIS_TRANSPORT["LEGACY_CHANNEL_PREFIX"]`` puts a
prefix before them. Pub/sub ignores key prefixes and database numbers, so two
deployments on one Redis server with the same channel names both execute every
legacy request: a few seconds after subscribing, each instance compares the
channel's subscribers with its own deployment's live listeners and logs a
warning when there are more.

Guarantee: at-most-once. Pub/sub keeps nothing: a request published while no
agent is subscribed, or while the subscriber's connection is down, is gone.
With several instances of a type subscribed, every one receives every request;
the first to SET NX a claim key for the request answers, the others skip it,
so one request is answered once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from agents.redis_keys import RedisKeys
from agents.redis_streams import PipelineBatcher, live_members
from agents.runtime.redis_support import Backoff, ConnectionState, RedisTransportOptions
from agents.runtime.transport import Handle

logger = logging.getLogger(__name__)

_CONN_ERRORS = (RedisError, OSError)
# Seconds after subscribing before the shared-channel check: our own instances started at the same
# time have registered their liveness by then.
SHARED_CHECK_DELAY_S = 3.0


class LegacyPubSub:
    def __init__(
        self,
        *,
        agent_type: str,
        instance_id: str,
        handle: Handle,
        redis: aioredis.Redis,
        keys: RedisKeys,
        options: RedisTransportOptions,
        state: ConnectionState,
    ):
        self.agent_type = agent_type
        self.instance_id = instance_id
        self.handle = handle
        self.redis = redis
        self.keys = keys
        self.options = options
        self.state = state
        self.request_channel = keys.legacy_request_channel(agent_type)
        self.response_channel = keys.legacy_response_channel(agent_type)
        self._handlers: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(options.max_inflight)
        self._stopping = False
        self.subscribed = asyncio.Event()
        self.foreign_subscribers: int | None = None  # set by the shared-channel check
        # Claims and answers of concurrent requests share round trips (run() is started by the transport).
        self.batcher = PipelineBatcher(redis)

    async def listen_loop(self) -> None:
        backoff = Backoff()
        loop = asyncio.get_running_loop()
        check_at: float | None = loop.time() + SHARED_CHECK_DELAY_S
        while not self._stopping:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.request_channel)
                self.state.ok()
                backoff.reset()
                self.subscribed.set()
                while not self._stopping:
                    if check_at is not None and loop.time() >= check_at:
                        check_at = None  # once per start: a warning to read, not a log flood
                        await self.check_shared_channel()
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        await self._slots.acquire()
                        task = asyncio.create_task(self._serve(message["data"]))
                        self._handlers.add(task)
                        task.add_done_callback(self._done)
            except asyncio.CancelledError:
                raise
            except _CONN_ERRORS as exc:
                self.subscribed.clear()
                await self.state.failed(exc, self.redis)
                await asyncio.sleep(backoff.next())
            finally:
                try:
                    await asyncio.shield(pubsub.aclose())
                except Exception:  # closing a dead connection may fail; nothing to recover
                    pass

    async def check_shared_channel(self) -> None:
        """Warn when the request channel has more subscribers than this deployment has live listeners."""
        try:
            ((_, subscribers),) = await self.redis.pubsub_numsub(self.request_channel)
            ours = len(await live_members(self.redis, self.keys, self.agent_type))
        except _CONN_ERRORS as exc:
            logger.info("Could not check who else listens on %s: %s", self.request_channel, exc)
            return
        self.foreign_subscribers = max(0, int(subscribers) - ours)
        if self.foreign_subscribers:
            logger.warning(
                "%d subscriber(s) of %s do not belong to this deployment (key prefix %r, %d live listener(s)): "
                "another deployment on this Redis server probably executes every legacy request too. Give each "
                "deployment its own REDIS_LEGACY_CHANNEL_PREFIX (docs/redis.md).",
                self.foreign_subscribers,
                self.request_channel,
                self.keys.prefix,
                ours,
            )

    def _done(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        self._slots.release()

    def stop_listening(self) -> None:
        self._stopping = True

    async def drain(self, timeout: float) -> None:
        if self._handlers:
            _done, pending = await asyncio.wait(set(self._handlers), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def _serve(self, raw: bytes) -> None:
        rid: Any = None
        claimed = False
        try:
            if len(raw) > self.options.max_frame_bytes:
                # Too large to parse, but an old client can only match an answer by its request_id.
                rid = protocol.id_from_head(raw[: protocol.OVERSIZED_HEAD_BYTES])
                raise protocol.too_large_error(len(raw), self.options.max_frame_bytes, "The request")
            frame = protocol.decode(raw)
            rid = protocol.request_id_of(frame)
            if not await self._claim(rid, raw):
                return  # another instance of this type answers it
            claimed = True
            request = protocol.normalize_request(frame, default_agent=self.agent_type)
            rid = request["id"]
            if request["agent"] != self.agent_type:
                raise ProtocolError(
                    ErrorCode.INVALID_REQUEST,
                    f"Request for agent '{request['agent']}' published on {self.request_channel}",
                )
            response = await self.handle(request, "pubsub")
        except ProtocolError as exc:
            # Malformed input: with several instances each would answer, so
            # only the claim winner does (the claim is on the raw bytes).
            try:
                if not claimed and not await self._claim(rid, raw):
                    return
            except _CONN_ERRORS as conn_exc:
                await self.state.failed(conn_exc, self.redis)
                return
            response = exc.to_frame(rid)
        except asyncio.CancelledError:
            raise
        except _CONN_ERRORS as exc:
            await self.state.failed(exc, self.redis)
            return
        await self._publish(response, rid)

    async def _claim(self, rid: Any, raw: bytes) -> bool:
        """True for exactly one instance per legacy request (SET NX)."""
        token = f"id:{rid}" if rid is not None else "raw:" + hashlib.sha1(raw).hexdigest()
        claimed = await self.batcher.call(
            "SET",
            self.keys.legacy_claim(self.agent_type, token),
            self.instance_id,
            "NX",
            "PX",
            self.options.legacy_claim_ms,
        )
        return bool(claimed)

    async def _publish(self, response: dict[str, Any], rid: Any) -> None:
        # Legacy clients correlate on "request_id"; the current ones on "id".
        response["request_id"] = rid
        response["transport"] = "pubsub"
        try:
            await self.batcher.call("PUBLISH", self.response_channel, orjson.dumps(response, default=str))
        except _CONN_ERRORS as exc:
            await self.state.failed(exc, self.redis)
