"""Start, stop and restart agent processes through supervisord's XML-RPC interface.

Blocking (XML-RPC waits until the process is up or down): run in a worker
thread. Used by the manager agent (after its token check) and by the admin
(after its staff check); neither checks anything here.
"""

from __future__ import annotations

import time
import xmlrpc.client
from typing import Any

from agents.manager import supervisor as sv
from agents.manager.supervisor import ProcessInfo, SupervisorClient, SupervisorUnavailable
from agents.protocol import ErrorCode, ProtocolError

OPERATIONS = ("start", "stop", "restart")
STOPPED_STATES = frozenset({"STOPPED", "EXITED", "FATAL"})
RUNNING_STATES = frozenset({"RUNNING"})
POLL_INTERVAL_S = 0.1
# Longer than supervisor's stopwaitsecs (after which it SIGKILLs) plus a start.
WAIT_TIMEOUT_S = 120.0


def resolve_targets(name: str, processes: list[ProcessInfo], groups: tuple[str, ...]) -> list[ProcessInfo]:
    """The processes ``name`` means, within the controllable groups.

    Accepted: a full name (``agents:naming-1``), a process name (``naming-1``),
    a program / agent type (``naming``: every process of it), a group
    (``agents`` or ``agents:*``).
    """
    name = name.strip()
    allowed = [p for p in processes if p.group in groups]
    group = name[:-2] if name.endswith(":*") else name
    if group in groups:
        return [p for p in allowed if p.group == group]
    short = name.split(":", 1)[1] if ":" in name else name
    found = [p for p in allowed if p.full_name == name or p.name == short]
    if not found:
        found = [p for p in allowed if p.name.rsplit("-", 1)[0] == short and p.name.rsplit("-", 1)[-1].isdigit()]
    if not found:
        others = [p.full_name for p in processes if p.group not in groups and (p.name == short or p.full_name == name)]
        if others:
            raise ProtocolError(
                ErrorCode.VALIDATION_ERROR,
                f"'{name}' is not an agent process; use supervisorctl",
                {"name": name, "controllable_groups": list(groups)},
            )
        raise ProtocolError(
            ErrorCode.NOT_FOUND,
            f"No agent process named '{name}'",
            {"name": name, "processes": sorted(p.full_name for p in allowed)},
        )
    return found


def process_control(
    *,
    operation: str,
    name: str,
    client: SupervisorClient,
    groups: tuple[str, ...],
    wait: bool = True,
    self_pid: int | None = None,
) -> dict[str, Any]:
    """Apply ``operation`` to every process ``name`` means; report each one's outcome.

    ``self_pid`` is the caller's own pid (the manager agent): stopping itself
    would kill the request before it is answered, so that is refused, and a
    restart of itself is a SIGTERM that supervisor's autorestart answers by
    starting it again, after this request has been answered during the drain.
    """
    if operation not in OPERATIONS:
        raise ProtocolError(
            ErrorCode.VALIDATION_ERROR, f"Unknown operation '{operation}'", {"operations": list(OPERATIONS)}
        )
    try:
        targets = resolve_targets(name, client.all_processes(), groups)
        own = [p for p in targets if self_pid is not None and p.pid == self_pid]
        if own and operation == "stop":
            raise ProtocolError(
                ErrorCode.CONFLICT, "The manager cannot stop itself; use supervisorctl", {"name": own[0].full_name}
            )
        results = _apply(client, operation, [p for p in targets if p not in own], wait)
        results += [_restart_self(client, proc) for proc in own]
    except SupervisorUnavailable as exc:
        raise ProtocolError(ErrorCode.AGENT_UNAVAILABLE, str(exc), {"supervisor_socket": client.socket_path}) from None
    return {"operation": operation, "name": name, "processes": results}


def _apply(client: SupervisorClient, operation: str, procs: list[ProcessInfo], wait: bool) -> list[dict[str, Any]]:
    """Stop every process, then start every process, each phase in parallel.

    One at a time with supervisor's blocking calls, restarting the five
    agents would take five stop-drain-start cycles in a row, longer than a
    request's timeout; here the phases overlap and supervisor is polled.
    """
    names = [p.full_name for p in procs]
    outcome: dict[str, str] = {}
    try:
        if operation in ("stop", "restart"):
            for full in names:
                stopping = _ignoring(sv.NOT_RUNNING, client.stop, full, wait=False)
                outcome[full] = "stopped" if stopping else "already stopped"
            if wait or operation == "restart":
                _wait_for(client, names, STOPPED_STATES)
        if operation in ("start", "restart"):
            for full in names:
                starting = _ignoring(sv.ALREADY_STARTED, client.start, full, wait=False)
                outcome[full] = (
                    ("restarted" if operation == "restart" else "started") if starting else "already running"
                )
            if wait:
                _wait_for(client, names, RUNNING_STATES)
    except xmlrpc.client.Fault as fault:
        code = ErrorCode.NOT_FOUND if fault.faultCode == sv.BAD_NAME else ErrorCode.INTERNAL_ERROR
        raise ProtocolError(
            code,
            f"supervisor could not {operation} {', '.join(names)}: {fault.faultString}",
            {"names": names, "fault": fault.faultString},
        ) from None
    after = {p.full_name: p for p in client.all_processes()}
    results: list[dict[str, Any]] = [
        {
            "name": p.full_name,
            "result": outcome[p.full_name],
            "pid_before": p.pid,
            "pid": after[p.full_name].pid,
            "state": after[p.full_name].state,
        }
        for p in procs
    ]
    failed = [r for r in results if wait and operation != "stop" and r["state"] != "RUNNING"]
    if failed:
        raise ProtocolError(
            ErrorCode.INTERNAL_ERROR,
            f"{', '.join(r['name'] for r in failed)} did not start (see its log under var/log)",
            {"processes": results},
        )
    return results


def _wait_for(
    client: SupervisorClient, names: list[str], states: frozenset[str], timeout: float = WAIT_TIMEOUT_S
) -> None:
    """Poll until every process is in one of ``states``, or gave up (FATAL), or the timeout passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = {p.full_name: p.state for p in client.all_processes()}
        if all(current.get(n) in states or current.get(n) == "FATAL" for n in names):
            return
        time.sleep(POLL_INTERVAL_S)


def _ignoring(fault_code: int, call: Any, *args: Any, **kwargs: Any) -> bool:
    """Run ``call``; False instead of raising when supervisor says it was already so."""
    try:
        call(*args, **kwargs)
    except xmlrpc.client.Fault as fault:
        if fault.faultCode != fault_code:
            raise
        return False
    return True


def _restart_self(client: SupervisorClient, proc: ProcessInfo) -> dict[str, Any]:
    client.signal(proc.full_name, "TERM")
    return {"name": proc.full_name, "result": "restarting", "pid_before": proc.pid, "pid": None, "state": "STOPPING"}
