"""The reliable half of the Redis transport: one consumer in a stream's group.

Guarantee: at-least-once. An entry is acknowledged only in the same atomic
step that writes its answer (``REPLY_SCRIPT``); an instance that dies leaves
its entries pending, and a live instance reclaims them (XAUTOCLAIM) once they
have been idle ``claim_idle_ms``. A reclaimed entry can therefore run twice;
the runner's idempotency layer and the naming agent's unique keys make the
second run return the first answer. An entry delivered more than
``max_deliveries`` times (it keeps killing its consumers) is answered with an
error and dropped, so one poison request cannot stall the stream forever.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from agents import protocol
from agents.protocol import ErrorCode, ProtocolError
from agents.redis_keys import CONSUMER_GROUP, RedisKeys
from agents.redis_streams import (
    F_CALLER,
    F_FRAME,
    F_REPLY_ID,
    F_REPLY_KIND,
    F_REPLY_TO,
    REPLY_SCRIPT,
    PipelineBatcher,
    ensure_group,
    entry_deadline_ms,
)
from agents.runtime.redis_support import Backoff, ConnectionState, RedisTransportOptions
from agents.runtime.transport import Handle

logger = logging.getLogger(__name__)

_CONN_ERRORS = (RedisError, OSError)
CALLER_SEEN_S = 0.5

# Remove this consumer from the group, but only if it holds no pending entry
# (deleting a consumer drops its pending entries, which would lose requests).
# KEYS[1] = request stream; ARGV[1] = group, ARGV[2] = consumer name.
DELETE_IDLE_CONSUMER_SCRIPT = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #pending > 0 then
  return 0
end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
"""


class StreamConsumer:
    def __init__(
        self,
        *,
        agent_type: str,
        consumer: str,
        handle: Handle,
        redis: aioredis.Redis,
        keys: RedisKeys,
        options: RedisTransportOptions,
        state: ConnectionState,
    ):
        self.agent_type = agent_type
        self.consumer = consumer
        self.handle = handle
        self.redis = redis
        self.stream = keys.stream(agent_type)
        self.keys = keys
        self.options = options
        self.state = state
        self.batcher = PipelineBatcher(redis, {"reply": REPLY_SCRIPT})
        self._delete_consumer = redis.register_script(DELETE_IDLE_CONSUMER_SCRIPT)
        self._handlers: set[asyncio.Task[None]] = set()
        self._in_hand: dict[bytes, asyncio.Task[None]] = {}  # entry id -> its handler
        self._callers_seen: dict[bytes, float] = {}  # caller name -> when its caller key last existed
        self._capacity = asyncio.Event()
        self._capacity.set()
        self._stopping = False
        self.answered = 0
        self.bad_entries = 0  # entries that could not be answered (a reply key of the wrong type)

    # --- loops (started by RedisTransport) ---------------------------------------
    async def read_loop(self) -> None:
        """Own pending entries first (a restart under the same name), then new ones."""
        backoff = Backoff()
        # Reading from an explicit id returns our own pending list from that id
        # on; ">" asks for entries never delivered to anyone.
        backlog_from: bytes | None = b"0"
        while not self._stopping:
            try:
                await self._wait_for_slot()
                count = max(1, min(self.options.read_count, self._free_slots()))
                start_id = backlog_from if backlog_from is not None else ">"
                # Any: redis-py types a reply for decoded and raw clients alike; ours are raw (bytes).
                result: Any = await self.redis.xreadgroup(
                    CONSUMER_GROUP,
                    self.consumer,
                    {self.stream: start_id},
                    count=count,
                    block=None if backlog_from is not None else self.options.block_ms,
                )
                self.state.ok()
                backoff.reset()
                entries = [e for _s, batch in result or [] for e in batch]
                if backlog_from is not None:
                    backlog_from = entries[-1][0] if entries else None
                for entry_id, fields in entries:
                    if fields:  # a deleted entry still in our pending list comes back empty
                        self._spawn(entry_id, fields)
                    else:
                        await self._ack_only(entry_id)
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" in str(exc):  # Redis restarted empty, or someone deleted the stream
                    await self._recreate_group(backoff)
                else:
                    logger.error("XREADGROUP on %s failed: %s", self.stream, exc)
                    await asyncio.sleep(backoff.next())
            except _CONN_ERRORS as exc:
                await self.state.failed(exc, self.redis)
                await asyncio.sleep(backoff.next())

    async def claim_loop(self) -> None:
        """Reclaim entries other (dead) consumers left pending too long."""
        while not self._stopping:
            await asyncio.sleep(self.options.claim_every_s)
            try:
                await self.claim_once()
            except asyncio.CancelledError:
                raise
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    logger.error("XAUTOCLAIM on %s failed: %s", self.stream, exc)
            except _CONN_ERRORS as exc:
                await self.state.failed(exc, self.redis)

    async def claim_once(self) -> int:
        await self._keep_in_hand_entries()
        claimed = 0
        start = "0-0"
        while not self._stopping and self._free_slots() > 0:
            next_id, entries, *_deleted = await self.redis.xautoclaim(
                self.stream,
                CONSUMER_GROUP,
                self.consumer,
                self.options.claim_idle_ms,
                start,
                count=max(1, min(self.options.read_count, self._free_slots())),
            )
            for entry_id, fields in entries:
                if entry_id in self._in_hand:
                    continue  # ours and running (its idle time passed while it ran)
                claimed += 1
                await self._wait_for_slot()
                if not fields:
                    await self._ack_only(entry_id)
                elif await self._delivered_too_often(entry_id):
                    await self._give_up(entry_id, fields)
                else:
                    logger.info("Reclaimed stream entry %s of %s", entry_id.decode(), self.agent_type)
                    self._spawn(entry_id, fields)
            start = next_id
            if next_id in (b"0-0", "0-0"):
                break
        return claimed

    # --- stop -----------------------------------------------------------------------
    def stop_reading(self) -> None:
        self._stopping = True

    async def drain(self, timeout: float) -> None:
        """Let handlers finish; the ones still running after ``timeout`` are cancelled.

        A cancelled handler's entry stays pending, so another instance answers
        it after the claim idle time: nothing is lost, it is only late.
        """
        if self._handlers:
            _done, pending = await asyncio.wait(set(self._handlers), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)

    async def leave_group(self) -> None:
        """Delete this consumer when it holds nothing, so the group lists only live ones."""
        try:
            await asyncio.wait_for(self._delete_consumer(keys=[self.stream], args=[CONSUMER_GROUP, self.consumer]), 2.0)
        except (TimeoutError, *_CONN_ERRORS) as exc:
            logger.debug("Could not leave the group of %s: %s", self.stream, exc)

    # --- one entry ---------------------------------------------------------------------
    async def _keep_in_hand_entries(self) -> None:
        """Reset the idle time of the entries we are working on, so no live instance steals them.

        XCLAIM ... JUSTID to ourselves does not count as a delivery; it only
        says "still alive and on it". Idle time thus grows only for entries of
        consumers that stopped running, which is what reclaiming is for.
        """
        if self._in_hand:
            await self.redis.xclaim(self.stream, CONSUMER_GROUP, self.consumer, 0, list(self._in_hand), justid=True)

    def _spawn(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        if entry_id in self._in_hand:
            return  # already being handled here (e.g. our own backlog read twice)
        task = asyncio.create_task(self._handle_entry(entry_id, fields))
        self._handlers.add(task)
        self._in_hand[entry_id] = task
        if self._free_slots() <= 0:
            self._capacity.clear()
        task.add_done_callback(lambda t: self._handler_done(t, entry_id))

    def _handler_done(self, task: asyncio.Task[None], entry_id: bytes) -> None:
        self._handlers.discard(task)
        if self._in_hand.get(entry_id) is task:
            del self._in_hand[entry_id]
        if self._free_slots() > 0:
            self._capacity.set()

    async def _wait_for_slot(self) -> None:
        await self._capacity.wait()

    def _free_slots(self) -> int:
        return self.options.max_inflight - len(self._handlers)

    async def _handle_entry(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        reply_to = fields.get(F_REPLY_TO)
        kind = (fields.get(F_REPLY_KIND) or b"none").decode(errors="replace")
        response = await self._answer(entry_id, fields)
        response["transport"] = "redis"
        await self._write_reply(entry_id, reply_to, kind, response, fields.get(F_REPLY_ID))

    async def _answer(self, entry_id: bytes, fields: dict[bytes, bytes]) -> dict[str, Any]:
        rid: Any = None
        try:
            raw = fields.get(F_FRAME)
            if raw is None:
                raise ProtocolError(ErrorCode.INVALID_REQUEST, "Stream entry has no 'frame' field")
            if len(raw) > self.options.max_frame_bytes:
                raise ProtocolError(
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"Request of {len(raw)} bytes is over the {self.options.max_frame_bytes}-byte limit",
                )
            frame = protocol.decode(raw)
            rid = protocol.request_id_of(frame)
            request = protocol.normalize_request(frame, default_agent=self.agent_type)
            rid = request["id"]
            if request["agent"] != self.agent_type:
                raise ProtocolError(
                    ErrorCode.INVALID_REQUEST,
                    f"Request for agent '{request['agent']}' sent to the '{self.agent_type}' stream",
                )
            if self._expired(entry_id, fields):
                raise ProtocolError(
                    ErrorCode.TIMEOUT,
                    "The request waited in the stream past its caller's timeout",
                    {"entry": entry_id.decode(), "may_have_run": False},
                )
            if await self._caller_gone(fields):
                raise ProtocolError(
                    ErrorCode.TIMEOUT,
                    "The caller of this request is gone; not running it",
                    {"entry": entry_id.decode(), "caller_gone": True, "may_have_run": False},
                )
            return await self.handle(request, "redis")
        except ProtocolError as exc:
            return exc.to_frame(rid)

    async def _caller_gone(self, fields: dict[bytes, bytes]) -> bool:
        """The entry names its caller process, and that one's caller key is gone (it died or stopped).

        A caller seen alive is believed for CALLER_SEEN_S (its key lives 5 s anyway), so a busy
        stream costs one EXISTS per caller every so often, not one per entry.
        """
        caller = fields.get(F_CALLER)
        if not caller:
            return False
        now = time.monotonic()
        if now - self._callers_seen.get(caller, float("-inf")) < CALLER_SEEN_S:
            return False
        try:
            alive = await self.batcher.call("EXISTS", self.keys.caller(caller.decode(errors="replace")))
        except _CONN_ERRORS:
            return False  # cannot tell: run it (the deadline still bounds it)
        if alive:
            if len(self._callers_seen) > 1000:
                self._callers_seen.clear()
            self._callers_seen[caller] = now
        return not alive

    def _expired(self, entry_id: bytes, fields: dict[bytes, bytes]) -> bool:
        # Checked right before the handler runs: an entry reached after its caller's deadline (read
        # late, or reclaimed from a dead consumer) is never run, since its caller was told TIMEOUT.
        # No grace by default; ``expiry_grace_ms`` is only for callers on hosts with a clock behind ours.
        deadline = entry_deadline_ms(entry_id, fields)
        if deadline is None:
            return False
        return time.time() * 1000 >= deadline + self.options.expiry_grace_ms

    async def _write_reply(
        self,
        entry_id: bytes,
        reply_to: bytes | None,
        kind: str,
        response: dict[str, Any],
        reply_id: bytes | None = None,
    ) -> None:
        if kind not in ("list", "stream") or not reply_to:
            kind = "none"
        keys = [self.stream] + ([reply_to] if kind != "none" else [])
        args = [
            CONSUMER_GROUP,
            entry_id,
            kind,
            orjson.dumps(response, default=str),
            self.options.reply_ttl_ms,
            self.options.reply_stream_maxlen,
            reply_id or str(response.get("id")).encode(),
        ]
        backoff = Backoff()
        # The answer is in memory; while Redis is briefly away keep trying to
        # write it rather than let the entry be reclaimed and run again. If it
        # was reclaimed and answered meanwhile, the script writes nothing.
        while True:
            try:
                if await self.batcher.script("reply", keys, args):
                    self.answered += 1
                return
            except asyncio.CancelledError:
                raise
            except _CONN_ERRORS as exc:
                if isinstance(exc, ResponseError) and str(exc).startswith("WRONGTYPE"):
                    # Redis is up: the entry is bad (its reply key holds another type). The script
                    # acknowledged it before failing, so there is nobody to answer and nothing to retry.
                    logger.warning(
                        "Cannot answer stream entry %s of %s: reply key %r has the wrong type; dropped as a bad entry",
                        entry_id.decode(),
                        self.agent_type,
                        reply_to,
                    )
                    self.bad_entries += 1
                    return
                if self._stopping:
                    logger.warning(
                        "Dropping the answer to entry %s: Redis is away and the agent is stopping; "
                        "the entry stays pending for another instance",
                        entry_id.decode(),
                    )
                    return
                await self.state.failed(exc, self.redis)
                await asyncio.sleep(backoff.next())

    async def _ack_only(self, entry_id: bytes) -> None:
        await self.batcher.script("reply", [self.stream], [CONSUMER_GROUP, entry_id, "none", b"", 0, 0, ""])

    async def _delivered_too_often(self, entry_id: bytes) -> bool:
        info: Any = await self.redis.xpending_range(self.stream, CONSUMER_GROUP, entry_id, entry_id, 1)
        return bool(info) and info[0]["times_delivered"] > self.options.max_deliveries

    async def _give_up(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        logger.error(
            "Stream entry %s of %s was delivered more than %d times; answering with an error",
            entry_id.decode(),
            self.agent_type,
            self.options.max_deliveries,
        )
        rid = None
        try:
            rid = protocol.request_id_of(protocol.decode(fields.get(F_FRAME, b"")))
        except ProtocolError:
            pass
        response = protocol.error(
            rid,
            ErrorCode.INTERNAL_ERROR,
            "The request was delivered to agents repeatedly without an answer; giving up",
            {"deliveries_max": self.options.max_deliveries},
            transport="redis",
        )
        kind = (fields.get(F_REPLY_KIND) or b"none").decode(errors="replace")
        await self._write_reply(entry_id, fields.get(F_REPLY_TO), kind, response, fields.get(F_REPLY_ID))

    async def _recreate_group(self, backoff: Backoff) -> None:
        try:
            await ensure_group(self.redis, self.stream)
            logger.warning("Consumer group of %s was missing (Redis restarted empty?); recreated it", self.stream)
        except _CONN_ERRORS as exc:
            await self.state.failed(exc, self.redis)
            await asyncio.sleep(backoff.next())
