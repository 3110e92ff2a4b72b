"""What the runner needs of a transport, and the one type of the function every transport calls.

The socket transport (agents/runtime/socket_transport.py) and the Redis
transport (agents/runtime/redis_transport.py) are the implementations; the
runner starts and stops them through ``Transport`` and gives the agent the
``call`` of the one that can carry its own requests to other agents.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol, runtime_checkable

# handle(request, transport name) -> the answer frame; never raises (agents/runtime/runner.py builds it).
# A coroutine, not any awaitable: the socket transport steps it once with send(None) to answer inline.
Handle = Callable[[dict[str, Any], str], Coroutine[Any, Any, dict[str, Any]]]


class Transport(Protocol):
    name: str

    async def start(self) -> None:
        """Begin serving; returns at once (dialling and reading run in tasks)."""

    async def stop(self, drain_timeout: float) -> None:
        """Stop taking work, finish what is in flight up to ``drain_timeout`` seconds, close."""


@runtime_checkable
class CallingTransport(Transport, Protocol):
    """A transport that also carries the agent's own requests to other agents (``Agent.caller``)."""

    async def call(
        self, agent: str, action: str, data: dict[str, Any], timeout_ms: float | None = None
    ) -> dict[str, Any]:
        """Send a request through the orchestrator and return its answer frame."""
