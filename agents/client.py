"""Client library for the orchestrator's client socket (sync and async).

    from agents.client import AsyncClient, Client

    async with await AsyncClient.connect() as client:            # many requests in flight
        frame = await client.request("naming", "allocate_namespace", {"environment": "test"})

    with Client() as client:                                       # one at a time, blocking
        frame = client.request("naming", "allocate_namespace", {"environment": "test"})

Both return the response frame (``status`` "success" or "error"). The socket
defaults to ``<socket dir>/orchestrator.sock`` (``ORCHESTRATOR_SOCKET_DIR``, or
the project's default); pass ``socket_path`` to use another, which works
without Django. A dropped connection is re-opened on the next request; requests
in flight when it dropped raise ``ConnectionError``, except after the
orchestrator's ``{"type": "bye"}`` (it closes idle connections and reads
nothing after that frame), when they are re-sent on a new connection.
``ClientTimeout`` is
raised only when the orchestrator itself does not answer (it answers TIMEOUT
error frames on its own well before that).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import socket
import threading
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agents import protocol
from agents.write_batch import NEVER, WriteBatch
from orchestrator_common.paths import socket_dir, socket_path

# How long past the request's own timeout we wait for the orchestrator's answer.
GRACE_S = 5.0
# Answers may exceed the frame limit by what the orchestrator adds to an agent's answer (our id,
# "transport"); an answer past even this is skipped and its request answered MESSAGE_TOO_LARGE.
ANSWER_HEADROOM_BYTES = 4096
DEFAULT_TIMEOUT_MS = 30_000


class ClientTimeout(TimeoutError):
    """The orchestrator did not answer at all (not even with a TIMEOUT error frame)."""


def default_socket_path() -> Path:
    """``orchestrator.sock`` in the configured socket directory (Django settings when configured)."""
    try:
        from django.conf import settings

        if settings.configured:
            return socket_path("client", settings.ORCHESTRATOR["SOCKET_DIR"])
    except Exception:  # Django absent or settings broken: fall back to the environment
        pass
    return socket_path("client", socket_dir())


def _default_timeout_ms() -> int:
    try:
        from django.conf import settings

        if settings.configured:
            return int(settings.ORCHESTRATOR["REQUEST_TIMEOUT_MS"])
    except Exception:
        pass
    return DEFAULT_TIMEOUT_MS


def build_request(
    agent: str,
    action: str,
    data: dict[str, Any] | None,
    *,
    timeout_ms: float | None,
    idempotency_key: str | None,
    interface: str | None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {"agent": agent, "action": action, "data": data or {}}
    if timeout_ms is not None:
        frame["timeout_ms"] = timeout_ms
    if idempotency_key is not None:
        frame["idempotency_key"] = idempotency_key
    if interface is not None:
        frame["interface"] = interface
    return frame


# Sent first on every connection: we understand {"type": "bye"} (see the module docstring).
CLIENT_FEATURES = protocol.encode({"type": "client", "features": ["bye"]})

_client_ids = itertools.count(1)


def _next_id() -> str:
    return f"cl{os.getpid():x}-{next(_client_ids)}"


def _answer_buffer(max_frame_bytes: int) -> protocol.LineBuffer:
    return protocol.LineBuffer(max_frame_bytes + ANSWER_HEADROOM_BYTES, discard_oversized=True)


def _encode_request(frame: dict[str, Any], max_frame_bytes: int) -> bytes:
    """The request's line; MESSAGE_TOO_LARGE (raised, nothing sent) when the orchestrator would refuse it
    and close the connection, failing every other request in flight on it."""
    payload = protocol.encode(frame)  # may raise ProtocolError (not encodable)
    if len(payload) - 1 > max_frame_bytes:
        raise protocol.too_large_error(len(payload) - 1, max_frame_bytes, "The request")
    return payload


def _too_large_answers(buf: protocol.LineBuffer) -> list[dict[str, Any]]:
    """MESSAGE_TOO_LARGE frames for the answers ``buf`` skipped (matched by the id in their first bytes)."""
    dropped, buf.dropped = buf.dropped, []
    return [
        protocol.too_large_error(exc.size, buf.max_bytes, "The answer").to_frame(exc.request_id)
        for exc in dropped
        if exc.request_id is not None
    ]


# --- async --------------------------------------------------------------------------------------


class _ClientProtocol(asyncio.Protocol):
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self._buf = _answer_buffer(client.max_frame_bytes)
        # Only flushed at the end of the tick: a burst of requests leaves in one write.
        self._batch = WriteBatch(asyncio.get_running_loop(), flush_every=NEVER)
        self.write = self._batch.write
        self.lost = False
        self.said_bye = False  # the orchestrator read nothing after its bye: pending requests may be re-sent

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = self._batch.transport = transport  # type: ignore[assignment]
        self.write(CLIENT_FEATURES)

    def data_received(self, data: bytes) -> None:
        lines = self._buf.feed(data)
        deliver = self.client._deliver
        if self._buf.dropped:
            for frame in _too_large_answers(self._buf):
                deliver(frame)
        for line in lines:
            try:
                frame = protocol.decode(line)
            except protocol.ProtocolError:
                continue
            if frame.get("type") == "bye":
                self.said_bye = True
                continue
            deliver(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._batch.close()
        self.client._lost(self, exc)

    def flush(self) -> None:
        self._batch.flush()


class AsyncClient:
    """Many requests in flight on one connection, matched by id; writes of one loop tick are batched."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        max_frame_bytes: int = protocol.DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.socket_path = Path(socket_path) if socket_path is not None else default_socket_path()
        self.max_frame_bytes = max_frame_bytes
        self.default_timeout_ms = _default_timeout_ms()
        self._proto: _ClientProtocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._payloads: dict[str, bytes] = {}  # for re-sending after a bye
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._subscribed = False
        self._resends: set[asyncio.Task[None]] = set()

    @classmethod
    async def connect(cls, socket_path: str | os.PathLike[str] | None = None, **kwargs: Any) -> AsyncClient:
        client = cls(socket_path, **kwargs)
        await client._ensure_connected()
        return client

    @property
    def inflight(self) -> int:
        """Requests sent on this client and not answered yet."""
        return len(self._waiters)

    async def __aenter__(self) -> AsyncClient:
        await self._ensure_connected()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _ensure_connected(self) -> _ClientProtocol:
        proto = self._proto
        if proto is not None and not proto.lost:
            return proto
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._proto is None or self._proto.lost:
                loop = asyncio.get_running_loop()
                # Cancelled mid-dial: nothing was sent and the lock is released; the next caller dials again.
                _, self._proto = await loop.create_unix_connection(lambda: _ClientProtocol(self), str(self.socket_path))
                if self._subscribed:  # the answer has no waiter and is dropped
                    self._proto.write(
                        protocol.encode({"id": _next_id(), "agent": "orchestrator", "action": "subscribe"})
                    )
            return self._proto

    async def request(
        self,
        agent: str,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        timeout_ms: float | None = None,
        idempotency_key: str | None = None,
        interface: str | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its response frame."""
        frame = build_request(
            agent, action, data, timeout_ms=timeout_ms, idempotency_key=idempotency_key, interface=interface
        )
        return await self._send_frame(frame, timeout_ms)

    async def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a raw request frame; the response carries the caller's own id (or the one we assigned)."""
        own_id = protocol.request_id_of(frame)
        out = {k: v for k, v in frame.items() if k not in ("id", "request_id")}
        timeout_ms = frame.get("timeout_ms") if isinstance(frame.get("timeout_ms"), (int, float)) else None
        response = await self._send_frame(out, timeout_ms)
        if own_id is not None:
            response["id"] = own_id
        return response

    async def _send_frame(self, frame: dict[str, Any], timeout_ms: float | None) -> dict[str, Any]:
        proto = await self._ensure_connected()
        rid = _next_id()
        frame["id"] = rid
        payload = _encode_request(frame, self.max_frame_bytes)  # may raise: before anything is registered
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        self._payloads[rid] = payload
        proto.write(payload)
        wait_s = (timeout_ms or self.default_timeout_ms) / 1000 + GRACE_S
        try:
            # Cancelled here, the finally drops the waiter and the payload, so a later _resend cannot send
            # the request a second time; its answer, if it comes, has no waiter and is dropped.
            return await asyncio.wait_for(fut, wait_s)
        except TimeoutError:
            raise ClientTimeout(f"No answer from the orchestrator within {wait_s:.1f} s") from None
        finally:
            self._waiters.pop(rid, None)
            self._payloads.pop(rid, None)

    async def subscribe(self) -> dict[str, Any]:
        """Receive event frames on this connection from now on (see ``events()``); re-done after a reconnect."""
        response = await self.request("orchestrator", "subscribe")
        self._subscribed = response.get("status") == "success"
        return response

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._events.get()

    async def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        return await asyncio.wait_for(self._events.get(), timeout)

    def _deliver(self, frame: dict[str, Any]) -> None:
        if frame.get("type") == "event":
            self._events.put_nowait(frame)
            return
        fut = self._waiters.pop(frame.get("id"), None)  # type: ignore[arg-type]
        if fut is not None and not fut.done():
            fut.set_result(frame)

    def _lost(self, proto: _ClientProtocol, exc: Exception | None) -> None:
        if proto is not self._proto:
            return
        self._proto = None
        if proto.said_bye and self._waiters:
            # Closed for idleness: whatever we sent meanwhile was never read, so send it again.
            task = asyncio.get_running_loop().create_task(self._resend(list(self._waiters)))
            self._resends.add(task)
            task.add_done_callback(self._resends.discard)
            return
        waiters, self._waiters = self._waiters, {}
        for fut in waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"Connection to {self.socket_path} lost: {exc or 'closed'}"))

    async def _resend(self, rids: list[str]) -> None:
        try:
            proto = await self._ensure_connected()
        except OSError as exc:
            for rid in rids:
                fut = self._waiters.pop(rid, None)
                if fut is not None and not fut.done():
                    fut.set_exception(ConnectionError(f"Reconnecting to {self.socket_path} failed: {exc}"))
            return
        for rid in rids:
            payload = self._payloads.get(rid)
            if payload is not None and rid in self._waiters:
                proto.write(payload)

    async def close(self) -> None:
        for task in list(self._resends):
            task.cancel()
        proto, self._proto = self._proto, None
        if proto is not None and proto.transport is not None:
            proto.flush()
            proto.transport.close()
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionError("Client closed"))
        self._waiters.clear()


def _peek_state(sock: socket.socket) -> str:
    """ "closed", "data" (bytes waiting) or "idle", without blocking (a timeout socket would poll first)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return "data" if sock.recv(1, socket.MSG_PEEK) else "closed"
    except BlockingIOError:
        return "idle"
    except OSError:
        return "closed"
    finally:
        sock.settimeout(timeout)


# --- sync ----------------------------------------------------------------------------------------


class Client:
    """Blocking client: one request at a time per client (thread-safe), reconnects lazily."""

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        max_frame_bytes: int = protocol.DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.socket_path = Path(socket_path) if socket_path is not None else default_socket_path()
        self.default_timeout_ms = _default_timeout_ms()
        self.max_frame_bytes = max_frame_bytes
        self.events: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._sock: socket.socket | None = None
        self._buf = _answer_buffer(max_frame_bytes)
        self._lines: deque[bytes] = deque()
        self._lock = threading.Lock()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _connect(self) -> socket.socket:
        if self._sock is not None and not self._usable(self._sock):
            self._drop()  # closed by the orchestrator while we were idle
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
                sock.sendall(CLIENT_FEATURES)
            except OSError:
                sock.close()
                raise
            self._sock = sock
            self._buf = _answer_buffer(self.max_frame_bytes)
            self._lines.clear()
        return self._sock

    def request(
        self,
        agent: str,
        action: str,
        data: dict[str, Any] | None = None,
        *,
        timeout_ms: float | None = None,
        idempotency_key: str | None = None,
        interface: str | None = None,
    ) -> dict[str, Any]:
        frame = build_request(
            agent, action, data, timeout_ms=timeout_ms, idempotency_key=idempotency_key, interface=interface
        )
        return self._exchange(frame, timeout_ms)

    def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        own_id = protocol.request_id_of(frame)
        out = {k: v for k, v in frame.items() if k not in ("id", "request_id")}
        timeout_ms = frame.get("timeout_ms") if isinstance(frame.get("timeout_ms"), (int, float)) else None
        response = self._exchange(out, timeout_ms)
        if own_id is not None:
            response["id"] = own_id
        return response

    def _exchange(self, frame: dict[str, Any], timeout_ms: float | None) -> dict[str, Any]:
        rid = _next_id()
        frame["id"] = rid
        wait_s = (timeout_ms or self.default_timeout_ms) / 1000 + GRACE_S
        payload = _encode_request(frame, self.max_frame_bytes)
        with self._lock:
            sock = self._connect()
            resent = False
            try:
                sock.settimeout(wait_s)
                sock.sendall(payload)
                while True:
                    response = self._read_frame(sock)
                    kind = response.get("type")
                    if kind == "event":
                        self.events.append(response)
                    elif kind == "bye" and not resent:
                        # Closed for idleness before our request was read: send it once more.
                        self._drop()
                        sock = self._connect()
                        sock.settimeout(wait_s)
                        sock.sendall(payload)
                        resent = True
                    elif response.get("id") == rid:
                        return response
            except TimeoutError:
                self._drop()
                raise ClientTimeout(f"No answer from the orchestrator within {wait_s:.1f} s") from None
            except OSError as exc:
                self._drop()
                raise ConnectionError(f"Connection to {self.socket_path} failed: {exc}") from exc

    def _usable(self, sock: socket.socket) -> bool:
        """Read what arrived while we were idle (events, a bye); False if the connection is over."""
        while True:
            state = _peek_state(sock)
            if state == "closed":
                return False
            if state == "idle":
                return True
            self._lines.extend(self._buf.feed(sock.recv(65536)))
            kept: deque[bytes] = deque()
            for line in self._lines:
                try:
                    frame = protocol.decode(line)
                except protocol.ProtocolError:
                    continue
                if frame.get("type") == "bye":
                    return False
                if frame.get("type") == "event":
                    self.events.append(frame)
                else:
                    kept.append(line)  # a late answer; dropped when read, its id matches nothing
            self._lines = kept

    def _read_frame(self, sock: socket.socket) -> dict[str, Any]:
        while not self._lines:
            if self._buf.dropped:
                skipped = _too_large_answers(self._buf)
                if skipped:
                    return skipped[0]  # at most one request is in flight on this client
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("the orchestrator closed the connection")
            self._lines.extend(self._buf.feed(chunk))
        try:
            return protocol.decode(self._lines.popleft())
        except protocol.ProtocolError:
            return {}

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        with self._lock:
            self._drop()
