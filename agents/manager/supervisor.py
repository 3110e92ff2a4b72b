"""A small client for supervisord's XML-RPC interface over its unix socket.

supervisor ships ``supervisor.xmlrpc.SupervisorTransport``, but its connections
have no timeout: a wedged supervisord would hang the calling thread forever.
This transport is the same idea in a few lines with a timeout on every call.
Blocking by nature: call it from a worker thread, never from the event loop.
"""

from __future__ import annotations

import http.client
import socket
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Fault codes from supervisor.xmlrpc.Faults that callers react to.
BAD_NAME = 10
NOT_RUNNING = 70
ALREADY_STARTED = 60
SPAWN_ERROR = 50
ABNORMAL_TERMINATION = 40


class SupervisorUnavailable(Exception):
    """supervisord does not answer on its socket (not running, or not ours)."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str, timeout: float):
        super().__init__()
        self._path = path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        return _UnixHTTPConnection(self._path, self._timeout)


@dataclass(frozen=True)
class ProcessInfo:
    """One supervisor process, as getAllProcessInfo reports it."""

    name: str
    group: str
    state: str
    pid: int | None
    start: int
    now: int
    description: str
    exitstatus: int

    @property
    def full_name(self) -> str:
        return f"{self.group}:{self.name}" if self.group != self.name else self.name

    @property
    def uptime_s(self) -> float | None:
        if self.state != "RUNNING" or not self.start:
            return None
        return float(max(0, self.now - self.start))

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.full_name,
            "group": self.group,
            "state": self.state,
            "pid": self.pid,
            "uptime_s": self.uptime_s,
            "description": self.description,
        }

    @classmethod
    def from_rpc(cls, raw: dict[str, Any]) -> ProcessInfo:
        return cls(
            name=raw["name"],
            group=raw["group"],
            state=raw["statename"],
            pid=raw.get("pid") or None,
            start=int(raw.get("start") or 0),
            now=int(raw.get("now") or time.time()),
            description=raw.get("description", ""),
            exitstatus=int(raw.get("exitstatus") or 0),
        )


class SupervisorClient:
    """supervisord's XML-RPC methods that the manager needs, with a timeout."""

    def __init__(self, socket_path: Path | str, *, timeout: float = 10.0):
        self.socket_path = str(socket_path)
        self.timeout = timeout

    def _proxy(self, timeout: float | None = None) -> xmlrpc.client.ServerProxy:
        # The URL is a placeholder: the transport always dials the unix socket.
        return xmlrpc.client.ServerProxy(
            "http://localhost/RPC2",
            transport=_UnixTransport(self.socket_path, timeout or self.timeout),
            allow_none=True,
        )

    def _call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        proxy = self._proxy(timeout)
        try:
            return getattr(proxy.supervisor, method)(*args)
        except xmlrpc.client.Fault:
            raise
        except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError) as exc:
            raise SupervisorUnavailable(f"supervisord does not answer on {self.socket_path}: {exc}") from exc
        finally:
            proxy("close")()

    def get_state(self) -> str:
        return self._call("getState")["statename"]

    def all_processes(self) -> list[ProcessInfo]:
        return [ProcessInfo.from_rpc(raw) for raw in self._call("getAllProcessInfo")]

    def process(self, name: str) -> ProcessInfo:
        return ProcessInfo.from_rpc(self._call("getProcessInfo", name))

    def start(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> bool:
        return self._call("startProcess", name, wait, timeout=timeout)

    def stop(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> bool:
        return self._call("stopProcess", name, wait, timeout=timeout)

    def signal(self, name: str, signame: str) -> bool:
        return self._call("signalProcess", name, signame)
