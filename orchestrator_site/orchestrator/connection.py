"""One accepted socket connection: a client, or (after hello) an agent instance.

A connection on the client socket is always a client. On a type socket the
first frame decides: a hello makes it an agent instance of that type; anything
else makes it a client of that type (``agent`` defaults to the socket's type),
which is what ``echo '{...}' | nc -U orchestrator-naming.sock`` relies on.

Reading parses every complete line of a chunk in one go; writing goes through
``agents.write_batch.WriteBatch`` (the frames of one loop tick in one call).

A connection's own state is one ``ConnState`` (NEW on a type socket until the
first frame decides, CLIENT, AGENT, CLOSED), and it stops in one place,
``shut_down``. An agent link's lifecycle is ``LinkLifecycle``'s (lifecycle.py).
What the connection needs from the orchestrator is a ``ConnectionContext``,
not the server.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson

from agents import protocol
from agents.protocol import ErrorCode, FrameTooLarge, LineBuffer, ProtocolError
from agents.write_batch import WriteBatch
from orchestrator_site.orchestrator.link import AgentLink

if TYPE_CHECKING:
    from orchestrator_site.orchestrator.builtin import Builtin
    from orchestrator_site.orchestrator.dispatch import Dispatcher
    from orchestrator_site.orchestrator.events import EventHub
    from orchestrator_site.orchestrator.lifecycle import LinkLifecycle
    from orchestrator_site.orchestrator.stats import Stats

logger = logging.getLogger(__name__)

_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


@dataclass(frozen=True, slots=True)
class ConnectionContext:
    """What a connection uses of the orchestrator (the model: uvicorn's ``ServerState``)."""

    dispatcher: Dispatcher
    builtin: Builtin
    links: LinkLifecycle
    stats: Stats
    events: EventHub
    connections: set[Connection]  # every open connection (the server's ticks walk it)
    max_frame_bytes: int
    stopping: Callable[[], bool]


class ConnState(StrEnum):
    NEW = "new"  # on a type socket, before the first frame says client or agent
    CLIENT = "client"
    AGENT = "agent"
    CLOSED = "closed"  # shut down or lost: nothing more is read or written


# Enum member lookups go through the metaclass (about 0.2 us on Python 3.11); the hot path uses these.
_NEW = ConnState.NEW
_CLIENT = ConnState.CLIENT
_AGENT = ConnState.AGENT
_CLOSED = ConnState.CLOSED


class Connection(asyncio.Protocol):
    def __init__(self, ctx: ConnectionContext, socket_type: str | None) -> None:
        self.ctx = ctx
        self.dispatcher = ctx.dispatcher
        self.socket_type = socket_type  # None on the client socket
        self.link: AgentLink | None = None
        self.state = _CLIENT if socket_type is None else _NEW
        self.transport: asyncio.Transport | None = None
        self.outstanding = 0  # requests of this client not yet answered
        self._eof = False
        self._buf = LineBuffer(ctx.max_frame_bytes)
        self._loop = asyncio.get_running_loop()
        self._batch = WriteBatch(self._loop, on_flush=self._flushed)
        # The batch's own method: one call per frame on the hot path, not two.
        self.write = self._batch.write
        self.last_active = self.opened_at = self._loop.time()
        # Any byte received: such a connection is never "silent". A flag, not last_active == opened_at:
        # uvloop's clock has 1 ms resolution, so a client that connects and sends within one
        # millisecond would look as if it had never spoken (and be closed with its request in flight).
        self.heard_from = False
        # Set by {"type": "client", "features": ["bye"]}: our client library, which resends what an
        # idle close cut off; raw clients (nc) are closed without the extra frame.
        self.wants_bye = False

    # --- asyncio.Protocol ------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = self._batch.transport = transport  # type: ignore[assignment]
        ctx = self.ctx
        ctx.connections.add(self)
        ctx.stats.connections_total += 1
        if ctx.stopping():
            self.close()

    def data_received(self, data: bytes) -> None:
        if self.state is _CLOSED:
            return  # after a bye or a size-limit error nothing more is read
        self.heard_from = True
        self.last_active = self._loop.time()
        try:
            lines = self._buf.feed(data)
        except FrameTooLarge as exc:
            self._too_large(exc)
            return
        link = self.link
        if link is not None:
            link.last_seen = self._loop.time()
            on_line = self.dispatcher.on_agent_response_line
            for line in lines:
                try:
                    if not on_line(link, line):
                        self._agent_frame(line)
                except Exception:
                    self._internal_error(line)
            if self._buf.dropped:
                self._agent_too_large(link)
            return
        for line in lines:
            if self.state is _CLOSED:
                return
            try:
                if self.link is not None:  # the hello arrived earlier in this same chunk
                    self._agent_frame(line)
                else:
                    self._client_line(line)
            except Exception:
                self._internal_error(line)

    def _internal_error(self, line: bytes) -> None:
        # A bug must cost one request, not the connection and everything in flight on it.
        logger.exception("Failed to process a frame (%d bytes) from %s", len(line), self.state)
        self._error(ProtocolError(ErrorCode.INTERNAL_ERROR, "The orchestrator failed to process this frame"))

    def eof_received(self) -> bool:
        # Half-close (``nc`` after stdin ends): a last unterminated line still counts
        # as a frame, and the connection stays open until its answers are written.
        self._eof = True
        if self.link is not None:
            return False
        rest = self._buf.take_rest()
        if rest.strip():
            self._client_line(rest)
        return not (self.outstanding == 0 and not self._batch.out)

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _CLOSED
        self._batch.close()
        self.ctx.connections.discard(self)
        self.ctx.events.unsubscribe(self)
        if self.link is not None:
            link, self.link = self.link, None
            self.ctx.links.lost(link)
        else:
            self.dispatcher.client_lost(self)

    def pause_writing(self) -> None:
        # A client that does not read its answers stops being read from, so it
        # cannot make us buffer without bound. Agents are bounded by max_inflight.
        if self.link is None and self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.link is None and self.transport is not None and self.state is not _CLOSED:
            self.transport.resume_reading()

    # --- writing (``write`` is the WriteBatch's, bound in __init__) ------------------------------
    def write_frame(self, frame: dict[str, Any]) -> None:
        self.write(protocol.encode(frame))

    def _flushed(self) -> None:
        self.last_active = self._loop.time()
        if self._eof and self.outstanding == 0:
            self.close()

    def flush_now(self) -> None:
        self._batch.flush()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def shut_down(self) -> None:
        """Write what is collected, then read and write nothing more and close (the one way we stop)."""
        self._batch.flush()
        self.state = _CLOSED
        self._batch.close()
        self.close()

    def is_idle(self, now: float, idle_s: float) -> bool:
        return (
            self.link is None
            and self.outstanding == 0
            and not self._batch.out
            and self.state is not _CLOSED
            and now - self.last_active > idle_s
        )

    def is_silent(self, now: float, silent_s: float) -> bool:
        """Connected ``silent_s`` ago and never sent a byte (so nothing is in flight for it either)."""
        return (
            not self.heard_from
            and self.outstanding == 0
            and self.state is not _CLOSED
            and now - self.opened_at > silent_s
        )

    def say_bye(self, reason: str) -> None:
        """Close an idle client politely: requests it sent after this frame were not read (safe to resend)."""
        if self.wants_bye:
            self.write_frame({"type": "bye", "reason": reason})
        self.shut_down()

    def _error(self, exc: ProtocolError, request_id: Any = None) -> None:
        self.ctx.stats.record_error(exc.code)
        self.write_frame(exc.to_frame(request_id))

    def _too_large(self, exc: FrameTooLarge) -> None:
        limit = self._buf.max_bytes
        self._error(
            ProtocolError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"Frame exceeds the {limit}-byte limit; closing the connection",
                {"max_bytes": limit},
            ),
            exc.request_id,
        )
        self.shut_down()

    def _agent_too_large(self, link: AgentLink) -> None:
        # An agent's oversized answer costs that one request, not the link and everything in
        # flight on it: the buffer skipped the line, and its id (first in our frames) says whose it was.
        dropped, self._buf.dropped = self._buf.dropped, []
        limit = self._buf.max_bytes
        for exc in dropped:
            iid = exc.request_id
            logger.warning(
                "agent %s/%s sent a %d-byte frame over the %d-byte limit (request %s): "
                "answered MESSAGE_TOO_LARGE, link kept",
                link.agent_type,
                link.instance_id,
                exc.size,
                limit,
                iid,
            )
            if isinstance(iid, int):  # an answer to one of our internal ids
                frame = protocol.too_large_error(exc.size, limit, "The agent's answer").to_frame(iid)
                self.dispatcher.on_agent_response_frame(link, frame)
            elif iid is not None:  # the agent's own request to another agent: it hears why at once
                self._error(protocol.too_large_error(exc.size, limit), iid)

    # --- clients ----------------------------------------------------------------------------
    def _client_line(self, line: bytes) -> None:
        try:
            frame = _loads(line)
        except _JSONDecodeError:
            frame = None
        if type(frame) is not dict:
            try:
                protocol.decode(line)  # raises the canonical INVALID_JSON / INVALID_REQUEST error
            except ProtocolError as exc:
                self._error(exc)
            return
        if "action" not in frame and "type" in frame:
            self._control(frame)
            return
        if self.state is _NEW:
            self.state = _CLIENT
        # Hot path: a frame that is already canonical ({id, agent, action, data} and nothing else, the
        # shape our client library and benchmarks send) is used as it is, exactly what
        # normalize_request would return; anything else goes through normalize_request.
        rid = frame.get("id")
        agent = frame.get("agent")
        action = frame.get("action")
        if (
            len(frame) == 4
            and type(frame.get("data")) is dict
            and type(agent) is str
            and agent
            and type(action) is str
            and action
            and (type(rid) is str or type(rid) is int)
        ):
            request = frame
        else:
            try:
                request = protocol.normalize_request(frame, default_agent=self.socket_type)
            except ProtocolError as exc:
                self._error(exc, protocol.request_id_of(frame))
                return
        self._submit(request)

    def _submit(self, request: dict[str, Any]) -> None:
        """A normalized request, a client's or an agent's own: the orchestrator's actions here, the rest queued."""
        if request["agent"] == "orchestrator":
            self.ctx.builtin.handle(self, request)
        else:
            self.dispatcher.submit(self, request)

    def _control(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "ping":
            self.write_frame(protocol.PONG)
        elif kind == "pong":
            pass
        elif kind == "client":
            features = frame.get("features")
            self.wants_bye = isinstance(features, list) and "bye" in features
        elif kind == "hello" and self.state is _NEW:
            self._hello(frame)
        elif kind == "hello":
            self._error(
                ProtocolError(
                    ErrorCode.INVALID_REQUEST, "A hello is only accepted as the first frame on an agent type socket"
                )
            )
        else:
            self._error(
                ProtocolError(ErrorCode.INVALID_REQUEST, f"Unknown frame type {kind!r}"), protocol.request_id_of(frame)
            )

    # --- agents --------------------------------------------------------------------------------
    def _hello(self, frame: dict[str, Any]) -> None:
        link = AgentLink(self, self.socket_type or "")
        try:
            self.ctx.links.hello(link, frame)  # READY and welcomed, or CLOSED and raised
        except ProtocolError as exc:
            self._error(exc)
            self.shut_down()
            return
        self.state = _AGENT
        self.link = link
        self._buf.discard_oversized = True  # see _agent_too_large

    def _agent_frame(self, line: bytes) -> None:
        """A frame from an agent that is not a fast-path answer: control frames, odd layouts, its own requests."""
        link = self.link
        assert link is not None
        try:
            frame = protocol.decode(line)
        except ProtocolError as exc:
            self._error(exc)
            return
        if protocol.is_response(frame):
            self.dispatcher.on_agent_response_frame(link, frame)
            return
        if "action" in frame:
            # The agent calls another agent through us (ctx.call_agent, heartbeats).
            try:
                request = protocol.normalize_request(frame)
            except ProtocolError as exc:
                self._error(exc, protocol.request_id_of(frame))
                return
            self._submit(request)
            return
        kind = frame.get("type")
        if kind == "ping":
            self.write_frame(protocol.PONG)
        elif kind == "pong":
            pass
        elif kind == "draining":
            self.ctx.links.draining(link)
        else:
            self._error(ProtocolError(ErrorCode.INVALID_REQUEST, f"Unexpected frame from an agent: {kind!r}"))
