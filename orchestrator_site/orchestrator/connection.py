"""One accepted socket connection: a client, or (after hello) an agent instance.

A connection on the client socket is always a client. On a type socket the
first frame decides: a hello makes it an agent instance of that type; anything
else makes it a client of that type (``agent`` defaults to the socket's type),
which is what ``echo '{...}' | nc -U orchestrator-naming.sock`` relies on.

Reading parses every complete line of a chunk in one go; writing collects the
frames of one loop tick and writes them with one call (``_flush`` scheduled
once per tick with ``call_soon``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import orjson

from agents import protocol
from agents.protocol import ErrorCode, FrameTooLarge, LineBuffer, ProtocolError
from orchestrator_site.orchestrator.link import AgentLink, LinkState

if TYPE_CHECKING:
    from orchestrator_site.orchestrator.server import OrchestratorServer

logger = logging.getLogger(__name__)

_loads = orjson.loads
# Frames collected before a write is forced mid-tick (see ``write``); large enough that the
# syscall and the peer's wake-up cost well under 1 us per frame.
FLUSH_EVERY = 64
_JSONDecodeError = orjson.JSONDecodeError


class Connection(asyncio.Protocol):
    def __init__(self, server: "OrchestratorServer", socket_type: str | None) -> None:
        self.server = server
        self.dispatcher = server.dispatcher
        self.socket_type = socket_type  # None on the client socket
        self.link: AgentLink | None = None
        self.role: str | None = "client" if socket_type is None else None
        self.transport: asyncio.Transport | None = None
        self.outstanding = 0  # requests of this client not yet answered
        self.closed = False
        self._eof = False
        self._out: list[bytes] = []
        self._buf = LineBuffer(server.options.max_frame_bytes)
        self._loop = asyncio.get_running_loop()
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
        self.transport = transport  # type: ignore[assignment]
        self.server.connection_opened(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
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
            if self.closed:
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
        logger.exception("Failed to process a frame (%d bytes) from %s", len(line), self.role or "a peer")
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
        if self.outstanding == 0 and not self._out:
            return False
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._out.clear()
        self.server.connection_closed(self)
        if self.link is not None:
            link, self.link = self.link, None
            if link.state is not LinkState.CLOSED:
                link.transition(LinkState.CLOSED)
            self.server.agent_lost(link)
        else:
            self.dispatcher.client_lost(self)

    def pause_writing(self) -> None:
        # A client that does not read its answers stops being read from, so it
        # cannot make us buffer without bound. Agents are bounded by max_inflight.
        if self.link is None and self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.link is None and self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # --- writing -----------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.closed:
            return
        out = self._out
        out.append(data)
        if len(out) == 1:
            self._loop.call_soon(self._flush)
        elif len(out) >= FLUSH_EVERY:
            # A big chunk (hundreds of pipelined requests) would otherwise be relayed in one write at the
            # end of the tick, and the agent (or client) would sit idle until then: each process would
            # work in turn, never at the same time. Writing every FLUSH_EVERY frames lets the next hop
            # start while we are still parsing (measured: about 2x pipelined throughput on 2 cores).
            self._flush()

    def write_frame(self, frame: dict[str, Any]) -> None:
        self.write(protocol.encode(frame))

    def _flush(self) -> None:
        out = self._out
        if not out or self.closed:
            return
        self._out = []
        self.transport.write(out[0] if len(out) == 1 else b"".join(out))  # type: ignore[union-attr]
        self.last_active = self._loop.time()
        if self._eof and self.outstanding == 0:
            self.close()

    def flush_now(self) -> None:
        self._flush()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def is_idle(self, now: float, idle_s: float) -> bool:
        return (self.link is None and self.outstanding == 0 and not self._out and not self.closed
                and now - self.last_active > idle_s)

    def is_silent(self, now: float, silent_s: float) -> bool:
        """Connected ``silent_s`` ago and never sent a byte (so nothing is in flight for it either)."""
        return (not self.heard_from and self.outstanding == 0 and not self.closed
                and now - self.opened_at > silent_s)

    def say_bye(self, reason: str) -> None:
        """Close an idle client politely: requests it sent after this frame were not read (safe to resend)."""
        if self.wants_bye:
            self.write_frame({"type": "bye", "reason": reason})
            self._flush()
        self.closed = True
        self.close()

    def _error(self, exc: ProtocolError, request_id: Any = None) -> None:
        self.server.stats.record_error(exc.code)
        self.write_frame(exc.to_frame(request_id))

    def _too_large(self, exc: FrameTooLarge) -> None:
        limit = self._buf.max_bytes
        self._error(ProtocolError(ErrorCode.MESSAGE_TOO_LARGE,
                                  f"Frame exceeds the {limit}-byte limit; closing the connection",
                                  {"max_bytes": limit}), exc.request_id)
        self._flush()
        self.closed = True
        self.close()

    def _agent_too_large(self, link: AgentLink) -> None:
        # An agent's oversized answer costs that one request, not the link and everything in
        # flight on it: the buffer skipped the line, and its id (first in our frames) says whose it was.
        dropped, self._buf.dropped = self._buf.dropped, []
        limit = self._buf.max_bytes
        for exc in dropped:
            iid = exc.request_id
            logger.warning("agent %s/%s sent a %d-byte frame over the %d-byte limit (request %s): "
                           "answered MESSAGE_TOO_LARGE, link kept", link.agent_type, link.instance_id,
                           exc.size, limit, iid)
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
        if self.role is None:
            self.role = "client"
        # Hot path: a frame that is already canonical ({id, agent, action, data} and nothing else, the
        # shape our client library and benchmarks send) is used as it is, exactly what
        # normalize_request would return; anything else goes through normalize_request.
        rid = frame.get("id")
        agent = frame.get("agent")
        action = frame.get("action")
        if (len(frame) == 4 and type(frame.get("data")) is dict and type(agent) is str and agent
                and type(action) is str and action and (type(rid) is str or type(rid) is int)):
            request = frame
        else:
            try:
                request = protocol.normalize_request(frame, default_agent=self.socket_type)
            except ProtocolError as exc:
                self._error(exc, protocol.request_id_of(frame))
                return
        if request["agent"] == "orchestrator":
            self.server.builtin.handle(self, request)
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
        elif kind == "hello" and self.role is None and self.socket_type is not None:
            self._hello(frame)
        elif kind == "hello":
            self._error(ProtocolError(ErrorCode.INVALID_REQUEST,
                                      "A hello is only accepted as the first frame on an agent type socket"))
        else:
            self._error(ProtocolError(ErrorCode.INVALID_REQUEST, f"Unknown frame type {kind!r}"),
                        protocol.request_id_of(frame))

    # --- agents --------------------------------------------------------------------------------
    def _hello(self, frame: dict[str, Any]) -> None:
        link = AgentLink(self, self.socket_type or "")
        link.transition(LinkState.HELLO)
        try:
            self.server.accept_hello(link, frame)
        except ProtocolError as exc:
            self._error(exc)
            self._flush()
            link.transition(LinkState.CLOSED)
            self.closed = True
            self.close()
            return
        self.role = "agent"
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
            if request["agent"] == "orchestrator":
                self.server.builtin.handle(self, request)
            else:
                self.dispatcher.submit(self, request)
            return
        kind = frame.get("type")
        if kind == "ping":
            self.write_frame(protocol.PONG)
        elif kind == "pong":
            pass
        elif kind == "draining":
            self.dispatcher.link_draining(link)
            self.server.events.publish("agent_draining", agent=link.agent_type, instance=link.instance_id)
        else:
            self._error(ProtocolError(ErrorCode.INVALID_REQUEST, f"Unexpected frame from an agent: {kind!r}"))
