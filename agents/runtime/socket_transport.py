"""The agent's socket transport: dial the orchestrator, say hello, serve requests.

Connection state machine (transitions only through ``_transition``):

    CONNECTING --connected--> HELLO --welcome--> READY --stop()--> DRAINING --> CLOSED
        ^                       |                  |
        +----- lost / refused --+------------------+   (dial again unless stopping)

Dialling: 3 tries with growing backoff (0, 0.5 s, 1 s), then every
``retry_interval_s`` (5 s) forever, so an agent survives an orchestrator
restart without being restarted itself. The same connection carries the
agent's own calls to other agents (``agent.caller``) and pings both ways.

Hot path: every complete line of a chunk is handled in one go; answers of one
loop tick are written with one call. A handler that finishes without
suspending is answered without creating a task; this is limited to the
agent's ``inline_actions`` (default: echo, describe), because code that runs
before a handler's first ``await`` has no current task there.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Awaitable
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from agents import protocol
from agents.protocol import ErrorCode, FrameTooLarge, LineBuffer, ProtocolError
from agents.runtime.transport import Handle
from agents.write_batch import WriteBatch
from orchestrator_common.paths import socket_path

logger = logging.getLogger(__name__)
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_MAX_NESTING = protocol.MAX_NESTING


BACKOFF_S = (0.5, 1.0)  # waits after the 1st and 2nd failed try; then retry_interval_s
HELLO_TIMEOUT_S = 10.0


class ConnState(StrEnum):
    CONNECTING = "CONNECTING"
    HELLO = "HELLO"
    READY = "READY"
    DRAINING = "DRAINING"
    CLOSED = "CLOSED"


_ALLOWED: dict[ConnState, frozenset[ConnState]] = {
    ConnState.CONNECTING: frozenset({ConnState.HELLO, ConnState.CLOSED}),
    ConnState.HELLO: frozenset({ConnState.READY, ConnState.CONNECTING, ConnState.CLOSED}),
    ConnState.READY: frozenset({ConnState.DRAINING, ConnState.CONNECTING, ConnState.CLOSED}),
    ConnState.DRAINING: frozenset({ConnState.CLOSED}),
    ConnState.CLOSED: frozenset(),
}


# Member lookups on an Enum class go through its metaclass (about 0.2 us on Python 3.11):
# the per-request check uses this module constant.
_DRAINING = ConnState.DRAINING


class HandshakeRefused(Exception):
    pass


def retry_delay(failures: int, retry_interval_s: float) -> float:
    """Seconds to wait after the ``failures``-th failed dial in a row: 0.5, 1, then the interval forever."""
    return BACKOFF_S[failures - 1] if failures <= len(BACKOFF_S) else retry_interval_s


class _Resume:
    """Continue, inside a Task, a coroutine whose first step already ran (and suspended) outside one.

    The first step of a handler runs synchronously in ``data_received``; most
    handlers finish there and never need a task. One that suspends has yielded
    a future: this awaitable hands that future to the Task and then drives the
    rest of the coroutine exactly as ``yield from`` would.
    """

    __slots__ = ("coro", "first")

    def __init__(self, coro: Any, first: Any) -> None:
        self.coro = coro
        self.first = first

    def __await__(self) -> Any:
        coro = self.coro
        to_yield = self.first
        while True:
            try:
                sent = yield to_yield
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation and errors thrown in by the Task
                try:
                    to_yield = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                to_yield = coro.send(sent)
            except StopIteration as stop:
                return stop.value


class _AgentConnection(asyncio.Protocol):
    def __init__(self, owner: SocketTransport) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.welcome: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._buf = LineBuffer(owner.max_frame_bytes)
        self._batch = WriteBatch(asyncio.get_running_loop())
        # The batch's own method: one call per frame on the hot path, not two. A big chunk is answered in
        # slices (flush_every), so the orchestrator relays the first answers while we compute the rest.
        self.write = self._batch.write

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = self._batch.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._batch.close()
        if not self.welcome.done():
            self.welcome.set_exception(ConnectionError("The orchestrator closed the connection during hello"))
            self.welcome.exception()  # mark retrieved; the dialler reads it through wait_for
        if not self.closed.done():
            self.closed.set_result(None)
        self.owner._connection_lost(self)

    def data_received(self, data: bytes) -> None:
        try:
            lines = self._buf.feed(data)
        except FrameTooLarge:
            logger.error("Orchestrator sent a frame over %d bytes; reconnecting", self._buf.max_bytes)
            self.close()
            return
        serve = self.owner._serve
        for line in lines:
            # protocol.decode, inlined for the common case (a JSON object not deep enough to need the
            # nesting walk); anything else goes through protocol.decode for the same checks and errors.
            try:
                frame = _loads(line)
            except _JSONDecodeError:
                frame = None
            if type(frame) is not dict or line.count(b"{") + line.count(b"[") > _MAX_NESTING:
                try:
                    frame = protocol.decode(line)
                except ProtocolError as exc:
                    self.write(protocol.encode(exc.to_frame()))
                    continue
            if "action" in frame:
                serve(self, frame)
            elif "status" in frame:
                self.owner._call_answered(frame)
            else:
                self._control(frame)

    def _control(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            self.write(protocol.encode(protocol.PONG))
        elif kind == "welcome":
            if not self.welcome.done():
                self.welcome.set_result(frame)
        elif kind in ("pong", "event"):
            pass
        else:
            logger.warning("Ignoring unexpected frame from the orchestrator: %r", frame)

    def close(self) -> None:
        self._batch.flush()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class SocketTransport:
    """Serves one agent over ``orchestrator-<type>.sock``. ``start`` returns at once; dialling runs in a task."""

    name = "socket"

    def __init__(
        self,
        agent: Any,
        handle: Handle,
        *,
        instance_id: str,
        socket_dir: Path | str,
        token: str | None = None,
        max_inflight: int = 64,
        retry_interval_s: float = 5.0,
        max_frame_bytes: int = protocol.DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.agent = agent
        self.handle = handle
        self.instance_id = instance_id
        self.path = socket_path("agent", socket_dir, agent.agent_type)
        self.token = token
        self.max_inflight = max_inflight
        self.retry_interval_s = retry_interval_s
        self.max_frame_bytes = max_frame_bytes
        self.state = ConnState.CONNECTING
        self.conn: _AgentConnection | None = None
        self.connects = 0  # successful handshakes so far
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()  # handlers that suspended
        self._calls: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._call_ids = itertools.count(1)
        self._ready = asyncio.Event()
        # Actions whose first step runs inline in data_received (no task unless they suspend).
        # Only for handlers that need no current task before their first await (no asyncio.timeout()).
        self.inline_actions: frozenset[str] = frozenset(getattr(agent, "inline_actions", ("echo", "describe")))

    # --- lifecycle ------------------------------------------------------------------------------
    def _transition(self, new: ConnState) -> None:
        if new is self.state:
            return
        if new not in _ALLOWED[self.state]:
            raise RuntimeError(f"socket transport: {self.state} -> {new} is not allowed")
        logger.info("socket transport %s/%s: %s -> %s", self.agent.agent_type, self.instance_id, self.state, new)
        self.state = new
        if new is ConnState.READY:
            self._ready.set()
        else:
            self._ready.clear()

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="socket-transport")

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, drain_timeout: float) -> None:
        """Stop taking work, tell the orchestrator, let running handlers finish, close."""
        self._stopping.set()
        conn = self.conn
        if self.state is ConnState.READY and conn is not None:
            self._transition(ConnState.DRAINING)
            conn.write(protocol.encode({"type": "draining", "instance": self.instance_id}))
        if self._tasks:
            # Handlers still running after this are cancelled below; _finish answers each SHUTTING_DOWN
            # (may_have_run) as it unwinds, so every request still gets exactly one answer.
            await asyncio.wait(list(self._tasks), timeout=drain_timeout)
        for task in list(self._tasks):
            task.cancel()
        if conn is not None:
            conn.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for fut in self._calls.values():
            if not fut.done():
                fut.cancel()
        self._calls.clear()
        if self.state is not ConnState.CLOSED:
            self.state = ConnState.CLOSED
            self._ready.clear()

    async def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                conn = await self._dial()
            except (TimeoutError, OSError, HandshakeRefused, ConnectionError) as exc:
                failures += 1
                delay = retry_delay(failures, self.retry_interval_s)
                log = logger.info if failures <= len(BACKOFF_S) + 1 else logger.debug
                log("Cannot reach the orchestrator at %s (%s); retry %d in %.1f s", self.path, exc, failures, delay)
                if self.state is not ConnState.CONNECTING:
                    self._transition(ConnState.CONNECTING)
                try:
                    await asyncio.wait_for(self._stopping.wait(), delay)
                except TimeoutError:
                    pass
                continue
            failures = 0
            # Shielded: stop() cancelling this task must not resolve (or cancel) the connection's own future.
            await asyncio.shield(conn.closed)
            if self._stopping.is_set():
                break
            logger.warning("Lost the orchestrator connection; dialling again")
            self._transition(ConnState.CONNECTING)

    async def _dial(self) -> _AgentConnection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_unix_connection(lambda: _AgentConnection(self), str(self.path))
        self.conn = conn
        self._transition(ConnState.HELLO)
        conn.write(
            protocol.encode(
                protocol.hello(
                    self.agent.agent_type,
                    self.instance_id,
                    sorted(self.agent.actions),
                    token=self.token,
                    max_inflight=self.max_inflight,
                    idempotent_actions=self.agent.idempotent_actions(),
                )
            )
        )
        try:
            # Cancelled or timed out before the welcome: nothing was sent to us yet (the welcome comes
            # first), and closing the half-open connection makes the orchestrator drop the link.
            await asyncio.wait_for(asyncio.shield(conn.welcome), HELLO_TIMEOUT_S)
        except BaseException:
            conn.close()
            raise
        self.connects += 1
        self._transition(ConnState.READY)
        logger.info("Connected to the orchestrator at %s as %s", self.path, self.instance_id)
        return conn

    def _connection_lost(self, conn: _AgentConnection) -> None:
        if conn is not self.conn:
            return
        self.conn = None
        # Our own calls through this connection will never be answered: fail them now.
        for fut in self._calls.values():
            if not fut.done():
                fut.set_result(
                    protocol.unfinished(
                        None, ErrorCode.AGENT_DISCONNECTED, "Lost the orchestrator connection", may_have_run=True
                    )
                )
        self._calls.clear()

    # --- serving requests ---------------------------------------------------------------------------
    def _serve(self, conn: _AgentConnection, frame: dict[str, Any]) -> None:
        if type(frame.get("data")) is dict and type(frame.get("id")) is int and "agent" in frame:
            # Already normalized by the orchestrator (it sends internal integer ids): skip re-validation.
            request = frame
        else:
            try:
                request = protocol.normalize_request(frame, default_agent=self.agent.agent_type)
            except ProtocolError as exc:
                conn.write(protocol.encode(exc.to_frame(protocol.request_id_of(frame))))
                return
        if self.state is _DRAINING:
            conn.write(
                protocol.encode(
                    protocol.unfinished(
                        request["id"],
                        ErrorCode.SHUTTING_DOWN,
                        "This agent instance is shutting down",
                        may_have_run=False,
                    )
                )
            )
            return
        coro = self.handle(request, "socket")
        if request["action"] in self.inline_actions and "idempotency_key" not in request:
            try:
                first = coro.send(None)
            except StopIteration as stop:  # finished without suspending: answer right now
                conn.write(self._encode_answer(stop.value))
                return
            except BaseException:
                logger.exception("Handler for %s failed outside Agent.handle", request.get("action"))
                conn.write(protocol.encode(protocol.error(request["id"], ErrorCode.INTERNAL_ERROR, "Agent failure")))
                return
            awaitable: Any = _Resume(coro, first)
        else:
            awaitable = coro
        task = asyncio.get_running_loop().create_task(self._finish(conn, request["id"], awaitable))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish(self, conn: _AgentConnection, rid: Any, pending: Awaitable[dict[str, Any]]) -> None:
        try:
            # Cancelled only by stop() after the drain timeout: the one answer is SHUTTING_DOWN below.
            frame = await pending
        except asyncio.CancelledError:
            frame = protocol.unfinished(
                rid, ErrorCode.SHUTTING_DOWN, "The agent stopped before finishing this request", may_have_run=True
            )
            conn.write(protocol.encode(frame))
            raise
        except Exception:
            logger.exception("Handler failed outside Agent.handle")
            frame = protocol.error(rid, ErrorCode.INTERNAL_ERROR, "Agent failure")
        # If the connection died meanwhile the orchestrator already answered (or re-sent) it.
        conn.write(self._encode_answer(frame))

    def _encode_answer(self, frame: dict[str, Any]) -> bytes:
        """The answer's line, or MESSAGE_TOO_LARGE in its place: a line over the limit would be refused."""
        data, refused = protocol.encode_bounded(frame, self.max_frame_bytes)
        if refused:
            logger.warning(
                "Answer to request %s is over the %d-byte frame limit: sent MESSAGE_TOO_LARGE instead",
                frame.get("id"),
                self.max_frame_bytes,
            )
        return data

    # --- calls to other agents through the orchestrator ---------------------------------------------
    async def call(
        self, agent: str, action: str, data: dict[str, Any], timeout_ms: float | None = None
    ) -> dict[str, Any]:
        """Send a request to another agent through the orchestrator; returns its response frame."""
        conn = self.conn
        if conn is None or self.state not in (ConnState.READY, ConnState.DRAINING):
            return protocol.error(None, ErrorCode.AGENT_UNAVAILABLE, "Not connected to the orchestrator")
        rid = f"call-{os.getpid()}-{next(self._call_ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._calls[rid] = fut
        frame: dict[str, Any] = {"id": rid, "agent": agent, "action": action, "data": data}
        if timeout_ms:
            frame["timeout_ms"] = timeout_ms
        conn.write(protocol.encode(frame))
        wait_s = (timeout_ms or 30_000) / 1000 + 2.0  # the orchestrator answers TIMEOUT first
        try:
            # The frame is written once and never re-sent: a cancelled caller cannot duplicate it, and
            # the answer that arrives later finds no future in _calls and is dropped.
            return await asyncio.wait_for(fut, wait_s)
        except TimeoutError:
            return protocol.unfinished(
                rid, ErrorCode.TIMEOUT, f"No answer from '{agent}' within {wait_s:.1f} s", may_have_run=True
            )
        finally:
            self._calls.pop(rid, None)

    def _call_answered(self, frame: dict[str, Any]) -> None:
        fut = self._calls.pop(frame.get("id"), None)  # type: ignore[arg-type]
        if fut is not None and not fut.done():
            fut.set_result(frame)
