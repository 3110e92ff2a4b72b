"""The streams path's wire format, shared by the agents and their callers.

A request is one entry in the agent type's stream (``RedisKeys.stream``):

    frame       the request frame, JSON (the same envelope as the sockets)
    reply_to    where the answer goes: a list key (BLPOP) or a reply stream
    reply_kind  "list" | "stream" (absent: nobody waits, the answer is dropped)
    reply_id    optional: the token a reply stream entry carries (field "id") so
                the caller matches answers without trusting request ids to be
                unique; the request's own id is passed to the agent unchanged
    timeout_ms  optional: how long the caller waits, counted from the entry id's
                time; an agent that finds the entry older than that answers
                TIMEOUT without running it (the caller has given up)
    deadline_ms optional: the caller's deadline itself (Unix ms, the caller's
                clock); the earlier of the two counts, with no grace after it
    caller      optional: the caller process's name; the entry runs only while
                ``RedisKeys.caller(name)`` exists (a ``StreamRequester`` keeps
                it alive with a short TTL), so a dead caller's entries never run

The agent answers with REPLY_SCRIPT, which acknowledges the entry and writes
the answer in one atomic step, and only if the entry was still pending: when a
slow consumer and the consumer that reclaimed its entry both finish, exactly
one answer is written. Callers either BLPOP their per-request key (one
connection per waiting call: simple, for scripts) or share one reply stream
per process read by one task (``StreamRequester``, for many in flight).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
import socket
import time
import uuid
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from agents import protocol
from agents.redis_keys import CONSUMER_GROUP, RedisKeys

logger = logging.getLogger(__name__)

F_FRAME = b"frame"
F_REPLY_TO = b"reply_to"
F_REPLY_KIND = b"reply_kind"
F_TIMEOUT_MS = b"timeout_ms"
F_REPLY_ID = b"reply_id"
F_DEADLINE_MS = b"deadline_ms"
F_CALLER = b"caller"

DEFAULT_STREAM_MAXLEN = 100_000
DEFAULT_REPLY_STREAM_MAXLEN = 10_000
DEFAULT_REPLY_TTL_MS = 60_000
# A StreamRequester's caller key lives this long and is refreshed every quarter of it: entries of a
# caller that died (its key lapsed) or stopped (deleted) are answered without running.
CALLER_TTL_MS = 5000

# Acknowledge a stream entry and write its answer, atomically, once.
# KEYS[1] = request stream, KEYS[2] = reply key (list or stream; absent when
#           nobody waits for the answer)
# ARGV[1] = consumer group, ARGV[2] = entry id, ARGV[3] = reply kind
#           ("list" | "stream" | "none"), ARGV[4] = answer (JSON),
#           ARGV[5] = reply TTL (ms), ARGV[6] = reply stream MAXLEN (~),
#           ARGV[7] = the reply token (field "id" of a reply stream entry)
# Returns 1 when this call acknowledged the entry and wrote the answer, 0 when
# the entry was no longer pending (another consumer answered it already).
REPLY_SCRIPT = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then
  return 0
end
-- Acked entries are never read again; deleting them keeps the stream holding
-- only work still to do, so MAXLEN trimming cannot drop unanswered requests
-- unless that backlog itself passes the cap.
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[3] == 'list' then
  redis.call('LPUSH', KEYS[2], ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
elseif ARGV[3] == 'stream' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'id', ARGV[7], 'frame', ARGV[4])
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return 1
"""


# Take back a request entry a caller no longer waits for, unless an agent may already be on it.
# KEYS[1] = request stream
# ARGV[1] = consumer group, ARGV[2] = entry id, ARGV[3] = mode:
#   "unread": delete the entry if no consumer has read it yet;
#   "dead":   the live consumers of the type follow in ARGV[4..]. An entry read by a consumer that is
#             not among them is acknowledged and deleted (it is never reclaimed and run later); an
#             unread entry is deleted only when no consumer is live at all.
# Returns "gone" (answered already, or trimmed), "withdrawn" (deleted unread: it never ran),
# "abandoned" (read by a dead consumer, now acknowledged: it may have run), "read" (an agent has it),
# "kept" ("dead" mode: a live consumer has it or will read it).
WITHDRAW_SCRIPT = """
if #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then
  return 'gone'
end
local pending = redis.pcall('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if pending.err then
  pending = {}  -- no consumer group yet: no agent has ever read this stream
end
if #pending == 0 then
  if ARGV[3] == 'unread' or #ARGV == 3 then
    redis.call('XDEL', KEYS[1], ARGV[2])
    return 'withdrawn'
  end
  return 'kept'
end
if ARGV[3] ~= 'dead' then
  return 'read'
end
local consumer = pending[1][2]
for i = 4, #ARGV do
  if ARGV[i] == consumer then
    return 'kept'
  end
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return 'abandoned'
"""

# An instance seen to die (its socket dropped without a goodbye): it stops counting as a live Redis
# consumer and as the owner of idempotency claims until it refreshes them itself (if it is alive).
# KEYS[1] = liveness sorted set of the type, KEYS[2] = the instance's idempotency owner key
# ARGV[1] = instance id
FORGET_INSTANCE_SCRIPT = """
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
"""


def entry_time_ms(entry_id: bytes | str) -> int:
    """The millisecond timestamp Redis put in an auto-generated entry id."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


def client_id() -> str:
    """A process-unique name for reply keys and reply streams."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def entry_fields(
    frame: dict[str, Any],
    *,
    reply_to: str | None,
    reply_kind: str | None,
    timeout_ms: float | None,
    reply_id: str | None = None,
    caller: str | None = None,
) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {F_FRAME: orjson.dumps(frame, default=str)}
    if caller:
        fields[F_CALLER] = caller.encode()
    if reply_to and reply_kind:
        fields[F_REPLY_TO] = reply_to.encode()
        fields[F_REPLY_KIND] = reply_kind.encode()
    if reply_id:
        fields[F_REPLY_ID] = reply_id.encode()
    if timeout_ms:
        fields[F_TIMEOUT_MS] = str(int(timeout_ms)).encode()
        # The caller's own deadline, taken now (before the XADD's round trip): the entry id's time is
        # a little later than the caller's start, so entry time + timeout alone ends a little late.
        fields[F_DEADLINE_MS] = str(int(time.time() * 1000 + timeout_ms)).encode()
    return fields


def entry_deadline_ms(entry_id: bytes, fields: dict[bytes, bytes]) -> float | None:
    """The Unix ms after which nobody waits for the entry's answer (None: no deadline, or unreadable)."""
    raw = fields.get(F_TIMEOUT_MS)
    if not raw:
        return None
    try:
        deadline = float(entry_time_ms(entry_id) + int(raw))
        own = fields.get(F_DEADLINE_MS)
        return min(deadline, float(own)) if own else deadline
    except ValueError:
        return None


async def ensure_group(redis: aioredis.Redis, stream: str) -> None:
    """Create the stream and its consumer group if missing (idempotent).

    The group starts at id 0, so requests written before any agent ever
    listened are served too.
    """
    try:
        await redis.xgroup_create(stream, CONSUMER_GROUP, id="0", mkstream=True)
    except aioredis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def live_members(redis: aioredis.Redis, keys: RedisKeys, agent_type: str) -> frozenset[str]:
    """The instance ids of a type's consumers that refreshed their liveness lately."""
    members = await redis.zrangebyscore(keys.live(agent_type), int(time.time() * 1000), "+inf")
    return frozenset(m.decode() if isinstance(m, bytes) else str(m) for m in members)


class PipelineBatcher:
    """Commands issued in the same loop tick reach Redis in one pipelined round trip.

    Callers ``await batcher.call(...)`` as if they ran the command alone; one
    writer task (``run``, kept and cancelled by the owner) sends whatever has
    queued up since its last round trip. Under load this turns N round trips
    (and N pooled connections) into one, which is where Redis throughput
    comes from in Python. Scripts go as EVALSHA; after a Redis restart empties
    the script cache the script is loaded again and the call retried.
    """

    def __init__(self, redis: aioredis.Redis, scripts: dict[str, str] | None = None):
        self.redis = redis
        self._scripts = {name: (src, hashlib.sha1(src.encode()).hexdigest()) for name, src in (scripts or {}).items()}
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()

    async def call(self, *args: Any) -> Any:
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((args, fut))
        self._wake.set()
        return await fut

    async def script(self, name: str, keys: list[Any], args: list[Any]) -> Any:
        return await self.call("EVALSHA", self._scripts[name][1], len(keys), *keys, *args)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._queue = self._queue, []
            batch = [(args, fut) for args, fut in batch if not fut.done()]  # callers that gave up
            if batch:
                await self._send(batch)

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future[Any]]], retried: bool = False) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for args, _fut in batch:
                    pipe.execute_command(*args)
                results = await pipe.execute(raise_on_error=False)
        except asyncio.CancelledError:
            for _args, fut in batch:
                if not fut.done():
                    fut.cancel()
            raise
        except (RedisError, OSError) as exc:
            for _args, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            return
        missing = []
        for (args, fut), result in zip(batch, results, strict=True):
            if isinstance(result, NoScriptError) and not retried:
                missing.append((args, fut))
            elif fut.done():
                continue
            elif isinstance(result, Exception):
                fut.set_exception(result)
            else:
                fut.set_result(result)
        if missing:
            try:
                for src, _sha in self._scripts.values():
                    await self.redis.script_load(src)
            except (RedisError, OSError) as exc:
                for _args, fut in missing:
                    if not fut.done():
                        fut.set_exception(exc)
                return
            await self._send(missing, retried=True)


class StreamRequester:
    """Sends requests into agent streams; answers come back on one reply stream.

    One reader task per requester reads the process's reply stream and resolves
    the waiting futures by reply token, so a thousand requests in flight cost
    one blocking connection, not a thousand. The request keeps the caller's id
    (the agent's idempotency keys see the same id whichever path carried it);
    a fresh reply token per request means two callers' equal ids never clash.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        keys: RedisKeys,
        *,
        stream_maxlen: int = DEFAULT_STREAM_MAXLEN,
        reply_ttl_ms: int = DEFAULT_REPLY_TTL_MS,
        block_ms: int = 1000,
    ):
        self.redis = redis
        self.keys = keys
        self.stream_maxlen = stream_maxlen
        self.reply_ttl_ms = reply_ttl_ms
        self.block_ms = block_ms
        self.client_id = client_id()
        self.reply_stream = keys.reply_stream(self.client_id)
        self._counter = itertools.count(1)
        self._waiting: dict[bytes, Sent] = {}
        self._reader: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._batcher = PipelineBatcher(redis, {"withdraw": WITHDRAW_SCRIPT})
        self._last_id = b"0-0"
        self.caller_key = keys.caller(self.client_id)
        self._alive_task: asyncio.Task[None] | None = None
        self._alive_at = float("-inf")  # monotonic time of the last refresh of caller_key

    async def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_replies(), name=f"redis-replies-{self.client_id}")
            self._writer = asyncio.create_task(self._batcher.run(), name=f"redis-requests-{self.client_id}")
            self._alive_task = asyncio.create_task(self._alive_loop(), name=f"redis-caller-{self.client_id}")

    async def stop(self) -> None:
        for task in (self._reader, self._writer, self._alive_task):
            if task is not None:
                task.cancel()
        tasks = [t for t in (self._reader, self._writer, self._alive_task) if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self._reader = self._writer = self._alive_task = None
        try:  # gone: our entries still in the streams are answered without running
            await asyncio.wait_for(self.redis.delete(self.caller_key), 1.0)
        except (TimeoutError, RedisError, OSError):
            pass
        for sent in self._waiting.values():
            if not sent.answer.done():
                sent.answer.cancel()
        self._waiting.clear()
        try:
            await asyncio.wait_for(self.redis.delete(self.reply_stream), 1.0)
        except (TimeoutError, RedisError, OSError):
            pass

    async def submit(self, agent_type: str, frame: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Write the request and wait for its answer.

        Raises asyncio.TimeoutError when no answer comes within ``timeout_s``,
        and redis errors when the request could not be written.
        """
        sent: Sent | None = None
        try:
            async with asyncio.timeout(timeout_s):
                sent = await self.send(agent_type, frame, timeout_s)
                answer = await sent.answer
        finally:
            if sent is not None:
                self.forget(sent)
        return answer

    async def send(self, agent_type: str, frame: dict[str, Any], timeout_s: float) -> Sent:
        """Write the request entry; its answer resolves ``Sent.answer``. Call ``forget`` when done waiting."""
        token = f"{self.client_id}:{next(self._counter)}"
        caller_id = protocol.request_id_of(frame)
        if caller_id is None:
            frame = dict(frame, id=token)
        key = token.encode()
        sent = Sent(key, agent_type, asyncio.get_running_loop().create_future(), caller_id)
        self._waiting[key] = sent
        fields = entry_fields(
            frame,
            reply_to=self.reply_stream,
            reply_kind="stream",
            timeout_ms=timeout_s * 1000,
            reply_id=token,
            caller=self.client_id,
        )
        try:
            if time.monotonic() - self._alive_at > CALLER_TTL_MS / 2000:
                await self._refresh_alive()  # after an outage: the key must exist before our entry
            sent.entry_id = await self._batcher.call(
                "XADD",
                self.keys.stream(agent_type),
                "MAXLEN",
                "~",
                self.stream_maxlen,
                "*",
                *(part for pair in fields.items() for part in pair),
            )
        except BaseException:
            self.forget(sent)
            raise
        return sent

    def forget(self, sent: Sent) -> None:
        self._waiting.pop(sent.token, None)
        if not sent.answer.done():
            sent.answer.cancel()

    async def withdraw(self, sent: Sent, mode: str, live: frozenset[str] = frozenset()) -> str:
        """Take the entry back (``WITHDRAW_SCRIPT``); returns its outcome. Raises redis errors."""
        if sent.entry_id is None:
            return "gone"
        result = await self._batcher.script(
            "withdraw", [self.keys.stream(sent.agent_type)], [CONSUMER_GROUP, sent.entry_id, mode, *sorted(live)]
        )
        return result.decode() if isinstance(result, bytes) else str(result)

    async def give_up(self, sent: Sent, timeout_s: float = 1.0) -> bool:
        """Stop waiting for ``sent`` (its caller timed out): True when its entry was withdrawn unread.

        Then it never runs; False means an agent may have it (or Redis could not tell).
        """
        try:
            async with asyncio.timeout(timeout_s):
                return await self.withdraw(sent, "unread") == "withdrawn"
        except (TimeoutError, RedisError, OSError) as exc:
            logger.warning("Could not withdraw a stream entry of %s: %s", sent.agent_type, exc)
            return False
        finally:
            self.forget(sent)

    async def _refresh_alive(self) -> None:
        await self._batcher.call("SET", self.caller_key, b"1", "PX", CALLER_TTL_MS)
        self._alive_at = time.monotonic()

    async def _alive_loop(self) -> None:
        while True:
            try:
                await self._refresh_alive()
            except (RedisError, OSError) as exc:
                logger.debug("Caller key refresh failed (%s); retrying", exc)
            await asyncio.sleep(CALLER_TTL_MS / 4000)

    @property
    def in_flight(self) -> int:
        return len(self._waiting)

    async def _read_replies(self) -> None:
        delay = 0.05
        while True:
            try:
                # Any: redis-py types a reply for decoded and raw clients alike; ours are raw (bytes).
                result: Any = await self.redis.xread(
                    {self.reply_stream: self._last_id}, count=1000, block=self.block_ms
                )
                delay = 0.05
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                logger.debug("Reply stream read failed (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            for _stream, entries in result or []:
                for entry_id, fields in entries:
                    self._last_id = entry_id
                    self._resolve(fields)

    def _resolve(self, fields: dict[bytes, bytes]) -> None:
        sent = self._waiting.get(fields.get(b"id", b""))
        if sent is None or sent.answer.done():
            return  # a late answer for a caller that gave up
        try:
            answer = protocol.decode(fields.get(b"frame", b""))
        except protocol.ProtocolError as exc:
            answer = exc.to_frame(None)
        if sent.caller_id is not None:
            answer["id"] = sent.caller_id
        sent.answer.set_result(answer)


class Sent:
    """One request entry written by a ``StreamRequester`` and not yet answered."""

    __slots__ = ("token", "agent_type", "answer", "caller_id", "entry_id")

    def __init__(self, token: bytes, agent_type: str, answer: asyncio.Future[dict[str, Any]], caller_id: Any):
        self.token = token  # the reply token (field "id" of the reply stream entry)
        self.agent_type = agent_type
        self.answer = answer
        self.caller_id = caller_id
        self.entry_id: bytes | None = None  # set once the XADD has returned
