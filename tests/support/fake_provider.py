"""Fake LLM providers: real local HTTP servers speaking OpenAI's or Anthropic's format.

    from tests.support.fake_provider import FakeProvider

    with FakeProvider(api_format="openai") as fake:   # or "anthropic"
        client = OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)
        fake.set(mode="slow", chunks=20, chunk_delay_s=0.01)
        ...
        path, headers, body = fake.requests[-1]
        fake.wait_outcomes(1)[-1].result           # "complete", "client_closed" or "cut"

``base_url`` is ``http://127.0.0.1:PORT/v1`` for openai (clients append
``/chat/completions``), ``http://127.0.0.1:PORT`` for anthropic (clients
append ``/v1/messages``). A wrong key answers 401 in the format's error shape.

Modes (``set()`` replaces the whole behaviour: unnamed keywords go back to
their defaults, see provider_formats.Behaviour):

* ``ok``: the answer; a stream is written in one go, each event its own chunk.
* ``error_500`` / ``error_429``: that status with the format's error body
  (``retry_after_s`` adds a retry-after header), streamed or not.
* ``stall``: no byte at all until ``release()``, ``stall_s`` seconds or the
  client's close; then the ``ok`` answer.
* ``cut``: a stream stops after ``cut_after`` content chunks and, after
  ``chunk_delay_s``, the connection is closed without the chunked body's end
  (no ``[DONE]``, no message_stop); a non-streamed answer is closed halfway
  through its body.
* ``stream_error``: a stream sends ``cut_after`` content chunks, then the
  format's error event (OpenAI ``data: {"error": ...}``, Anthropic
  ``event: error`` with ``overloaded_error``) and ends cleanly, without
  ``[DONE]`` or message_stop; a non-streamed request gets ``error_500``.
* ``no_usage``: no usage anywhere (OpenAI ignores ``include_usage``).
* ``slow``: ``chunk_delay_s`` between stream chunks, honouring the client's
  flow control (a reader that stops reading stops the writer); a
  non-streamed answer waits ``chunks x chunk_delay_s``.

The server runs on its own event loop (uvloop) in a daemon thread, so tests
with their own loops or Daphne subprocesses can use it; HTTP/1.1 keep-alive,
chunked transfer for streams, thousands of concurrent connections.
``python -m tests.support.fake_provider --help`` runs one as a process (what
bench/bench_gateway.py does, so the load generator and the fake do not share
a GIL).

Why a raw asyncio.Protocol server and not a library: the benchmark needs the
fake far faster than the gateway it measures (aiohttp or an ASGI server cost
several times the CPU per request here), the tests need exact control of
what goes on the wire (a chunked body cut mid-way, no byte before a release,
flow control), and HTTP/1.1 with Content-Length or chunked bodies is the
small part of the protocol this needs.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import secrets
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Coroutine
from dataclasses import fields, replace
from typing import Any, NamedTuple

import orjson

from tests.support.provider_formats import FORMATS, MODES, Behaviour, Format, Rejection, Stream

_MAX_HEAD = 64 * 1024
_MAX_BODY = 32 * 1024 * 1024
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}


class Received(NamedTuple):
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any  # the parsed JSON body; None for a GET or a body that is not JSON


class Outcome(NamedTuple):
    request: int  # index into FakeProvider.requests
    status: int  # 0: nothing was sent (the client left during a stall)
    # "complete", "client_closed" (before the answer's end), "cut" or "error_event" (by the fake, on purpose)
    result: str
    chunks_sent: int  # content chunks of a stream written before the end


class _Request(NamedTuple):
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


class _BadRequest(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# --- HTTP/1.1 ------------------------------------------------------------------------------------


def _parse_request(buf: bytearray) -> _Request | None:
    """Take one complete request off the front of ``buf``; None while it is incomplete."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > _MAX_HEAD:
            raise _BadRequest(431)
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadRequest(400)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise _BadRequest(400)
        headers[name.strip().lower()] = value.strip()
    start = end + 4
    if "chunked" in headers.get("transfer-encoding", "").lower():
        decoded = _dechunk(buf, start)
        if decoded is None:
            return None
        body, stop = decoded
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadRequest(400) from None
        if length > _MAX_BODY:
            raise _BadRequest(413)
        if len(buf) < start + length:
            return None
        body, stop = bytes(buf[start : start + length]), start + length
    del buf[:stop]
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection if parts[2] == "HTTP/1.1" else "keep-alive" in connection
    return _Request(parts[0], parts[1].split("?", 1)[0], headers, body, keep_alive)


def _dechunk(buf: bytearray, pos: int) -> tuple[bytes, int] | None:
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        try:
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
        except ValueError:
            raise _BadRequest(400) from None
        if len(body) + size > _MAX_BODY:
            raise _BadRequest(413)
        if size == 0:
            trailer_end = buf.find(b"\r\n\r\n", eol)
            return (bytes(body), trailer_end + 4) if trailer_end >= 0 else None
        if len(buf) < eol + 2 + size + 2:
            return None
        body += buf[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


def _head(
    status: int,
    *,
    content_type: str = "application/json",
    length: int | None = None,
    headers: tuple[tuple[str, str], ...] = (),
    close: bool = False,
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}", f"content-type: {content_type}"]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    lines.extend(f"{name}: {value}" for name, value in headers)
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


_LAST_CHUNK = b"0\r\n\r\n"
_SSE_TYPE = "text/event-stream; charset=utf-8"


# --- one connection ------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """Requests of one connection are answered in order; an answer that has to wait
    (stall, slow, cut) runs as this connection's one worker task."""

    def __init__(self, server: _FakeServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.queue: deque[_Request] = deque()
        self.worker: asyncio.Task | None = None
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._paused = False
        self.discarding = False  # after a refusal: what the client still sends is dropped
        self._waiter: asyncio.Future | None = None  # a wait() or drain() in progress

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections.add(self)
        self.server.accepted += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)
        self._wake(False)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake(True)

    def data_received(self, data: bytes) -> None:
        if self.discarding:
            return
        self.buffer += data
        while not self.closed:
            try:
                request = _parse_request(self.buffer)
            except _BadRequest as bad:
                self._refuse(bad.status)
                return
            if request is None:
                break
            self.queue.append(request)
        self._next()

    def _refuse(self, status: int) -> None:
        """Answer a request that cannot be parsed, then close without losing the answer: closing
        with unread bytes would send a reset that can overtake it, so the write side is shut
        (the client sees the end) and the rest is read and dropped until the client closes."""
        body = orjson.dumps({"error": {"message": _REASONS.get(status, "Bad Request")}})
        self.write(_head(status, length=len(body), close=True) + body)
        self.discarding = True
        self.buffer.clear()
        self.transport.write_eof()  # type: ignore[union-attr]
        asyncio.get_running_loop().call_later(10.0, self.abort)

    def _next(self) -> None:
        while self.queue and self.worker is None and not self.gone:
            try:
                pending = self.server.respond(self, self.queue.popleft())
            except Exception:
                self._failed()
                return
            if pending is not None:
                self.worker = asyncio.get_running_loop().create_task(self._work(pending))

    def _failed(self) -> None:
        """A bug in the fake: say so loudly (tests assert ``failures == 0``), never hang the client."""
        traceback.print_exc(file=sys.stderr)
        self.server.failures += 1
        self.abort()

    async def _work(self, pending: Coroutine[Any, Any, None]) -> None:
        try:
            await pending
        except Exception:
            self._failed()
        finally:
            self.worker = None
        self._next()

    # --- writing and waiting (False once the client has gone) ---

    @property
    def gone(self) -> bool:
        """Closed by the client, or closing by this side (nothing more may be written)."""
        return self.closed or self.discarding or self.transport.is_closing()  # type: ignore[union-attr]

    def write(self, data: bytes) -> bool:
        if self.gone:
            return False
        self.transport.write(data)  # type: ignore[union-attr]
        return True

    def finish_with(self, data: bytes, *, keep_alive: bool) -> bool:
        sent = self.write(data)
        if not keep_alive:
            self.close()
        return sent

    def close(self) -> None:
        if not self.gone:
            self.transport.close()  # type: ignore[union-attr]

    def abort(self) -> None:
        if not self.closed:
            self.transport.abort()  # type: ignore[union-attr]

    async def drain(self) -> bool:
        while self._paused and not self.closed:
            await self.wait(None)  # resume_writing() or connection_lost() ends it
        return not self.closed

    async def wait(self, timeout: float | None, register: set[asyncio.Future] | None = None) -> bool:
        """Sleep up to ``timeout`` (None: forever), or until a future in ``register``
        is resolved by release(); False as soon as the client closes."""
        if self.closed:
            return False
        loop = asyncio.get_running_loop()
        future = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _resolve, future, True) if timeout is not None else None
        if register is not None:
            register.add(future)
        try:
            return await future
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()
            if register is not None:
                register.discard(future)

    def _wake(self, value: bool) -> None:
        if self._waiter is not None:
            _resolve(self._waiter, value)


def _resolve(future: asyncio.Future, value: bool) -> None:
    if not future.done():
        future.set_result(value)


# --- the server's behaviour (loop thread) -------------------------------------------------------


class _FakeServer:
    def __init__(self, fmt: Format, api_key: str, models: list[str] | None, record: bool) -> None:
        self.format = fmt
        self.api_key = api_key
        self.models = models
        self.record = record
        self.behaviour = Behaviour()
        self.requests: list[Received] = []
        self.outcomes: list[Outcome] = []
        self.changed = threading.Condition()
        self.served = 0  # requests answered, recorded or not
        self.failures = 0  # exceptions inside the fake itself
        self.accepted = 0  # connections, so tests can see keep-alive at work
        self.connections: set[_Connection] = set()
        self.stalled: set[asyncio.Future] = set()
        self._seq = itertools.count()

    def release(self) -> None:
        for future in list(self.stalled):
            _resolve(future, True)

    def respond(self, conn: _Connection, req: _Request) -> Coroutine[Any, Any, None] | None:
        """Answer now (None) or return the coroutine that will."""
        fmt, behaviour, seq = self.format, self.behaviour, next(self._seq)
        try:
            body = orjson.loads(req.body) if req.method == "POST" else None
        except orjson.JSONDecodeError:
            body = None
        ref = seq
        if self.record:
            with self.changed:
                ref = len(self.requests)
                self.requests.append(Received(req.path, req.headers, body))
                self.changed.notify_all()
        call = _Call(conn, req, seq, ref, ((fmt.request_id_header, f"req_fake{seq}"),))
        try:
            if req.method == "GET" and req.path == fmt.models_path:
                fmt.check(headers=req.headers, api_key=self.api_key, body=None)
                self._send(call, 200, fmt.models(self.models or ["fake-model"]))
                return None
            if req.method != "POST" or req.path != fmt.completion_path:
                raise Rejection(404, fmt.not_found(req.method, req.path))
            if body is None:
                raise Rejection(400, fmt.error(400, "We could not parse the JSON body of your request."))
            fmt.check(headers=req.headers, api_key=self.api_key, body=body)
            if self.models is not None and body["model"] not in self.models:
                raise Rejection(404, fmt.unknown_model(body["model"]))
        except Rejection as rejected:
            self._send(call, rejected.status, rejected.body, rejected.headers)
            return None
        return self._answer(call, body, behaviour)

    def _answer(self, call: _Call, body: dict, b: Behaviour) -> Coroutine[Any, Any, None] | None:
        fmt, streamed = self.format, bool(body.get("stream"))
        if b.mode == "error_500" or (b.mode == "stream_error" and not streamed):
            self._send(call, 500, fmt.error(500, "The server had an error processing your request."))
            return None
        if b.mode == "error_429":
            retry = (("retry-after", f"{b.retry_after_s:g}"),) if b.retry_after_s is not None else ()
            self._send(call, 429, fmt.error(429, "Rate limit reached for requests.", code="rate_limit_exceeded"), retry)
            return None
        if b.mode == "stall":
            return self._stall(call, body, b)
        if not streamed:
            payload = fmt.completion(body, b, call.seq)
            if b.mode == "cut":
                call.conn.finish_with(
                    _head(200, length=len(payload), headers=call.extra) + payload[: len(payload) // 2], keep_alive=False
                )
                self._finish(call, 200, "cut")
                return None
            if b.mode == "slow":
                return self._later(call, payload, b.chunks * b.chunk_delay_s)
            self._send(call, 200, payload)
            return None
        stream = fmt.stream(body, b, call.seq)
        if b.mode == "stream_error":
            pieces = stream.pieces[: b.cut_point()]
            events = b"".join(_chunk(event) for event in stream.head + pieces + [fmt.stream_error()])
            sent = call.conn.finish_with(self._stream_head(call) + events + _LAST_CHUNK, keep_alive=call.req.keep_alive)
            self._finish(call, 200, "error_event" if sent else "client_closed", len(pieces))
            return None
        if b.mode in ("cut", "slow"):
            return self._stream_slowly(call, stream, b)
        events = b"".join(_chunk(event) for event in stream.head + stream.pieces + stream.tail)
        sent = call.conn.finish_with(self._stream_head(call) + events + _LAST_CHUNK, keep_alive=call.req.keep_alive)
        self._finish(call, 200, "complete" if sent else "client_closed", len(stream.pieces))
        return None

    def _finish(self, call: _Call, status: int, result: str, chunks: int = 0) -> None:
        self.served += 1
        if self.record:
            with self.changed:
                self.outcomes.append(Outcome(call.ref, status, result, chunks))
                self.changed.notify_all()

    def _send(self, call: _Call, status: int, payload: bytes, headers: tuple[tuple[str, str], ...] = ()) -> None:
        keep = call.req.keep_alive
        sent = call.conn.finish_with(
            _head(status, length=len(payload), headers=call.extra + headers, close=not keep) + payload, keep_alive=keep
        )
        self._finish(call, status, "complete" if sent else "client_closed")

    @staticmethod
    def _stream_head(call: _Call) -> bytes:
        return _head(200, content_type=_SSE_TYPE, headers=call.extra, close=not call.req.keep_alive)

    async def _later(self, call: _Call, payload: bytes, delay: float) -> None:
        if not await call.conn.wait(delay):
            return self._finish(call, 200, "client_closed")
        self._send(call, 200, payload)

    async def _stall(self, call: _Call, body: dict, b: Behaviour) -> None:
        if not await call.conn.wait(b.stall_s, self.stalled):
            return self._finish(call, 0, "client_closed")
        pending = self._answer(call, body, replace(b, mode="ok"))
        if pending is not None:
            await pending

    async def _stream_slowly(self, call: _Call, stream: Stream, b: Behaviour) -> None:
        """Chunks spaced by chunk_delay_s ("slow"), or the head and cut_after chunks, then a close ("cut")."""
        conn, cut = call.conn, b.mode == "cut"
        pieces = stream.pieces[: b.cut_point()] if cut else stream.pieces
        if cut:
            conn.write(self._stream_head(call) + b"".join(_chunk(event) for event in stream.head + pieces))
            if await conn.wait(b.chunk_delay_s):
                conn.close()  # flushes what was written; the end of the chunked body never comes
            return self._finish(call, 200, "cut", len(pieces))
        conn.write(self._stream_head(call) + b"".join(_chunk(event) for event in stream.head + pieces[:1]))
        sent = 1
        for piece in pieces[1:]:
            # drain(): a reader that stops reading stops this writer (flow control), as a real server's would.
            if not (await conn.drain() and await conn.wait(b.chunk_delay_s) and conn.write(_chunk(piece))):
                return self._finish(call, 200, "client_closed", sent)
            sent += 1
        if not (await conn.drain() and await conn.wait(b.chunk_delay_s)):
            return self._finish(call, 200, "client_closed", sent)
        done = conn.finish_with(
            b"".join(_chunk(event) for event in stream.tail) + _LAST_CHUNK, keep_alive=call.req.keep_alive
        )
        self._finish(call, 200, "complete" if done else "client_closed", sent)


class _Call(NamedTuple):
    """One request being answered: where, its sequence number (ids) and index (outcomes)."""

    conn: _Connection
    req: _Request
    seq: int
    ref: int
    extra: tuple[tuple[str, str], ...]  # headers every answer carries


# --- the handle tests use (caller's thread) ------------------------------------------------------


class FakeProvider:
    def __init__(
        self,
        api_format: str = "openai",
        *,
        api_key: str | None = None,
        port: int = 0,
        models: list[str] | None = None,
        record: bool = True,
    ) -> None:
        """``api_key``: None makes one up; "" accepts any key or none (a local Ollama).
        ``models``: what GET /models lists; when given, other models answer 404 (by
        default any model is served and ``fake-model`` is listed). ``record=False``
        keeps no requests or outcomes (long benchmarks)."""
        if api_format not in FORMATS:
            raise ValueError(f"api_format must be one of {', '.join(FORMATS)}")
        self.api_format = api_format
        self.api_key = f"sk-fake-{secrets.token_hex(8)}" if api_key is None else api_key
        self._server = _FakeServer(FORMATS[api_format], self.api_key, models, record)
        self._wanted_port = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> FakeProvider:
        started = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(started, failure), daemon=True, name=f"fake-{self.api_format}"
        )
        self._thread.start()
        started.wait(30)
        if failure or not self.port:
            raise RuntimeError(f"fake provider did not start: {failure[0] if failure else 'timeout'}")
        return self

    def _run(self, started: threading.Event, failure: list[BaseException]) -> None:
        import uvloop

        loop = self._loop = uvloop.new_event_loop()
        try:
            server = loop.run_until_complete(serve(self._server, port=self._wanted_port))
            self.port = server.sockets[0].getsockname()[1]
        except BaseException as exc:  # bind failure: tell start(), which raises
            failure.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
            loop.run_until_complete(shutdown(self._server, server))
        finally:
            loop.close()

    def stop(self) -> None:
        """Close every connection (in-flight requests see the connection drop) and the listener."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._thread = None

    # --- controls ---

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + self._server.format.prefix

    def set(self, **behaviour: Any) -> None:
        """Replace the behaviour for requests that arrive from now on (see the module doc)."""
        self._server.behaviour = Behaviour(**behaviour)

    def release(self) -> None:
        """Let every request now stalled (mode "stall") answer."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._server.release)

    def clear(self) -> None:
        with self._server.changed:
            self._server.requests.clear()
            self._server.outcomes.clear()

    @property
    def requests(self) -> list[Received]:
        return self._server.requests

    @property
    def outcomes(self) -> list[Outcome]:
        return self._server.outcomes

    @property
    def served(self) -> int:
        return self._server.served

    @property
    def open_connections(self) -> int:
        return len(self._server.connections)

    @property
    def connections_accepted(self) -> int:
        return self._server.accepted

    @property
    def failures(self) -> int:
        """Exceptions inside the fake itself (a test may assert there were none)."""
        return self._server.failures

    def wait_requests(self, n: int, timeout: float = 30.0) -> list[Received]:
        """Block until at least ``n`` requests have arrived (AssertionError after ``timeout``)."""
        return self._wait(self._server.requests, n, timeout, "requests")

    def wait_outcomes(self, n: int, timeout: float = 30.0) -> list[Outcome]:
        """Block until at least ``n`` answers have ended, one way or another."""
        return self._wait(self._server.outcomes, n, timeout, "outcomes")

    def _wait(self, items: list, n: int, timeout: float, what: str) -> list:
        deadline = time.monotonic() + timeout
        with self._server.changed:
            while len(items) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"fake provider: {len(items)} {what} after {timeout} s, wanted {n}")
                self._server.changed.wait(left)
            return list(items)


# --- the event loop side ---------------------------------------------------------------------------


async def serve(server: _FakeServer, *, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Connection(server), host, port, backlog=4096)


async def shutdown(server: _FakeServer, listener: asyncio.Server) -> None:
    listener.close()
    for conn in list(server.connections):
        conn.abort()
    workers = [conn.worker for conn in list(server.connections) if conn.worker is not None]
    for task in asyncio.all_tasks() - {asyncio.current_task()}:
        task.cancel()
        workers.append(task)
    await asyncio.gather(*workers, return_exceptions=True)
    await listener.wait_closed()


# --- as a process: python -m tests.support.fake_provider ---------------------------------------------

_INT_FIELDS = frozenset({"chunks", "prompt_tokens", "completion_tokens", "cached_tokens", "cut_after"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run one fake LLM provider until SIGTERM or SIGINT.")
    parser.add_argument("--api-format", choices=sorted(FORMATS), default="openai")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--api-key", default=None, help='default: one made up (printed); "": no key needed')
    parser.add_argument("--record", action="store_true", help="keep every request (memory grows)")
    defaults = Behaviour()
    for f in fields(Behaviour):  # --mode, --chunks, --chunk-delay-s, ...: the keywords of FakeProvider.set()
        kind = int if f.name in _INT_FIELDS else float if f.name.endswith("_s") else str
        # The modes are listed, so --help says what the switches are and a typo is a usage error, not a traceback.
        choices = MODES if f.name == "mode" else None
        parser.add_argument(
            f"--{f.name.replace('_', '-')}", type=kind, default=getattr(defaults, f.name), choices=choices
        )
    args = parser.parse_args(argv)
    behaviour = Behaviour(**{f.name: getattr(args, f.name) for f in fields(Behaviour)})
    fake = _FakeServer(
        FORMATS[args.api_format],
        f"sk-fake-{secrets.token_hex(8)}" if args.api_key is None else args.api_key,
        None,
        args.record,
    )
    fake.behaviour = behaviour
    import signal

    import uvloop

    async def run() -> None:
        listener = await serve(fake, port=args.port)
        port = listener.sockets[0].getsockname()[1]
        print(
            orjson.dumps(
                {
                    "url": f"http://127.0.0.1:{port}",
                    "port": port,
                    "api_key": fake.api_key,
                    "base_url": f"http://127.0.0.1:{port}{fake.format.prefix}",
                }
            ).decode(),
            flush=True,
        )
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        await stop.wait()
        await shutdown(fake, listener)

    uvloop.run(run())


if __name__ == "__main__":
    main()
