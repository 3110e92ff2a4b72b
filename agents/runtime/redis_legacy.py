"""The legacy half of the Redis transport: ``agent.<type>.request`` pub/sub.

Older clients publish ``{"action", "params", "request_id"}`` (or the current
envelope) on ``agent.<type>.request`` and listen on ``agent.<type>.response``
for a frame carrying their ``request_id``. Both channel names are fixed points
and unprefixed.

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
from typing import Any, Awaitable, Callable

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from agents.redis_keys import RedisKeys
from agents.redis_streams import PipelineBatcher
from agents.runtime.redis_support import Backoff, ConnectionState, RedisTransportOptions

logger = logging.getLogger(__name__)

Handle = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]
_CONN_ERRORS = (RedisError, OSError)


class LegacyPubSub:
    def __init__(self, *, agent_type: str, instance_id: str, handle: Handle, redis: aioredis.Redis,
                 keys: RedisKeys, options: RedisTransportOptions, state: ConnectionState):
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
        # Claims and answers of concurrent requests share round trips (run() is started by the transport).
        self.batcher = PipelineBatcher(redis)

    async def listen_loop(self) -> None:
        backoff = Backoff()
        while not self._stopping:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.request_channel)
                self.state.ok()
                backoff.reset()
                self.subscribed.set()
                while not self._stopping:
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
                raise ProtocolError(ErrorCode.MESSAGE_TOO_LARGE,
                                    f"Request of {len(raw)} bytes is over the {self.options.max_frame_bytes}-byte limit")
            frame = protocol.decode(raw)
            rid = protocol.request_id_of(frame)
            if not await self._claim(rid, raw):
                return  # another instance of this type answers it
            claimed = True
            request = protocol.normalize_request(frame, default_agent=self.agent_type)
            rid = request["id"]
            if request["agent"] != self.agent_type:
                raise ProtocolError(ErrorCode.INVALID_REQUEST,
                                    f"Request for agent '{request['agent']}' published on {self.request_channel}")
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
        claimed = await self.batcher.call("SET", self.keys.legacy_claim(self.agent_type, token), self.instance_id,
                                          "NX", "PX", self.options.legacy_claim_ms)
        return bool(claimed)

    async def _publish(self, response: dict[str, Any], rid: Any) -> None:
        # Legacy clients correlate on "request_id"; the current ones on "id".
        response["request_id"] = rid
        response["transport"] = "pubsub"
        try:
            await self.batcher.call("PUBLISH", self.response_channel, orjson.dumps(response, default=str))
        except _CONN_ERRORS as exc:
            await self.state.failed(exc, self.redis)
