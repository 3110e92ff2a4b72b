"""An orchestrator and agents in this process, over real Unix sockets, for fast behaviour tests.

    @async_test
    async def test_something(tmp_socket_dir):
        async with InProc(tmp_socket_dir) as sysm:
            await sysm.agent("probe")
            conn = await sysm.raw()
            await conn.send({"agent": "probe", "action": "echo", "data": {}})
            frame = await conn.recv()

No database: the orchestrator is given its agent types and does not record
instances. The end-to-end tests (tests/e2e) cover the real processes.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson

from agents.client import AsyncClient
from agents.runtime.socket_transport import SocketTransport
from orchestrator_common.paths import socket_path
from orchestrator_site.orchestrator.config import OrchestratorOptions
from orchestrator_site.orchestrator.server import OrchestratorServer
from tests.support.agents import ProbeAgent

TEST_TIMEOUT_S = 120.0
WAIT_S = 30.0  # generous: the machine is shared


def async_test(func: Callable[..., Awaitable[None]]) -> Callable[..., None]:
    """Run an async test function on a fresh uvloop event loop."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        import uvloop

        async def main() -> None:
            await asyncio.wait_for(func(*args, **kwargs), TEST_TIMEOUT_S)

        uvloop.run(main())

    return wrapper


def make_socket_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="orch-", dir="/tmp")) / "s"


async def eventually(predicate: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class RawConn:
    """A bare socket client: send frames or bytes, read frames one by one."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, frame: dict[str, Any] | bytes) -> None:
        data = frame if isinstance(frame, bytes) else orjson.dumps(frame) + b"\n"
        self.writer.write(data)
        await self.writer.drain()

    async def recv(self, timeout: float = WAIT_S) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), timeout)
        if not line:
            raise ConnectionError("connection closed")
        return orjson.loads(line)

    async def recv_n(self, n: int, timeout: float = WAIT_S) -> list[dict[str, Any]]:
        return [await self.recv(timeout) for _ in range(n)]

    async def request(self, frame: dict[str, Any], timeout: float = WAIT_S) -> dict[str, Any]:
        await self.send(frame)
        return await self.recv(timeout)

    async def closed_by_peer(self, timeout: float = WAIT_S) -> bool:
        data = await asyncio.wait_for(self.reader.read(), timeout)
        return data == b"" or self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class ManualClock:
    """The dispatcher's clock, moved on by hand: a request's timeout passes without waiting for it."""

    def __init__(self) -> None:
        self.now = time.perf_counter()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class InProc:
    _ids = itertools.count(1)

    def __init__(
        self,
        socket_dir: Path | None = None,
        *,
        types: tuple[str, ...] = ("probe", "probe2"),
        clock: Callable[[], float] = time.perf_counter,
        **options: Any,
    ) -> None:
        self.socket_dir = socket_dir or make_socket_dir()
        self.types = types
        self.clock = clock
        self.options = replace(
            OrchestratorOptions(socket_dir=self.socket_dir),
            redis_fallback=False,
            monitor_interval_s=None,
            types_refresh_s=0,
            record_instances=False,
            **options,
        )
        self.server: OrchestratorServer | None = None
        self.transports: list[SocketTransport] = []
        self._conns: list[RawConn] = []
        self._clients: list[AsyncClient] = []

    async def __aenter__(self) -> InProc:
        await self.start_server()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def start_server(self) -> OrchestratorServer:
        self.server = OrchestratorServer(self.options, clock=self.clock)
        await self.server.start(types=list(self.types))
        return self.server

    async def stop_server(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None

    @property
    def client_socket(self) -> Path:
        return socket_path("client", self.socket_dir)

    def type_socket(self, agent_type: str) -> Path:
        return socket_path("agent", self.socket_dir, agent_type)

    async def agent(
        self,
        agent_type: str = "probe",
        instance: str | None = None,
        *,
        cls: type = ProbeAgent,
        wait: bool = True,
        **kwargs: Any,
    ) -> SocketTransport:
        instance = instance or f"IP-{agent_type}-{next(self._ids)}"
        agent = cls(instance, {})
        agent.agent_type = agent_type
        kwargs.setdefault("retry_interval_s", 0.2)

        async def handle(request: dict[str, Any], transport: str) -> dict[str, Any]:
            return await agent.handle(request, transport=transport)

        transport = SocketTransport(agent, handle, instance_id=instance, socket_dir=self.socket_dir, **kwargs)
        agent.caller = transport.call
        await transport.start()
        self.transports.append(transport)
        if wait:
            await self.wait_ready(agent_type, instance)
        return transport

    async def wait_ready(self, agent_type: str, instance: str) -> None:
        def ready() -> bool:
            if self.server is None:
                return False
            links = self.server.dispatcher.pools.get(agent_type, [])
            return any(link.instance_id == instance and link.state == "READY" for link in links)

        await eventually(ready, f"{agent_type}/{instance} READY")

    async def raw(self, path: Path | None = None) -> RawConn:
        reader, writer = await asyncio.open_unix_connection(str(path or self.client_socket), limit=16 * 1024 * 1024)
        conn = RawConn(reader, writer)
        self._conns.append(conn)
        return conn

    async def client(self) -> AsyncClient:
        client = await AsyncClient.connect(self.client_socket)
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for conn in self._conns:
            conn.close()
        for client in self._clients:
            await client.close()
        for transport in self.transports:
            await transport.stop(1.0)
        await self.stop_server()
        shutil.rmtree(self.socket_dir.parent, ignore_errors=True)
