"""``manage.py run_orchestrator``: the socket orchestrator, in the foreground until SIGTERM."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from orchestrator_site.orchestrator.config import OrchestratorOptions
from orchestrator_site.orchestrator.sockets import SocketDirError, SocketInUse


class Command(BaseCommand):
    help = "Run the socket orchestrator: one socket per enabled agent type plus orchestrator.sock."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--socket-dir", type=Path, help="Socket directory (default: ORCHESTRATOR_SOCKET_DIR).")
        parser.add_argument(
            "--no-redis",
            action="store_true",
            help="No Redis fallback: a type without a socket instance answers AGENT_UNAVAILABLE.",
        )
        parser.add_argument("--no-monitor", action="store_true", help="Do not run the periodic provider monitor.")
        parser.add_argument("--monitor-interval", type=float, help="Seconds between provider monitor passes.")
        parser.add_argument("--drain-timeout", type=float, help="Seconds to let in-flight requests finish on SIGTERM.")
        parser.add_argument("--types-refresh", type=float, help="Seconds between re-reads of the agent types.")
        parser.add_argument("--request-timeout-ms", type=int, help="Default per-request timeout.")
        parser.add_argument(
            "--client-idle-timeout",
            type=float,
            help="Close idle connections on orchestrator.sock after this many seconds (default 0: never).",
        )
        parser.add_argument(
            "--type-client-idle-timeout",
            type=float,
            help="Close idle client connections on agent-type sockets after this many seconds "
            "(default 2, so `echo ... | nc -U` exits).",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        from orchestrator_site.orchestrator.server import run

        options = OrchestratorOptions.from_settings(
            socket_dir=opts["socket_dir"],
            drain_timeout_s=opts["drain_timeout"],
            types_refresh_s=opts["types_refresh"],
            request_timeout_ms=opts["request_timeout_ms"],
            monitor_interval_s=opts["monitor_interval"],
            client_idle_timeout_s=opts["client_idle_timeout"],
            type_client_idle_timeout_s=opts["type_client_idle_timeout"],
        )
        if opts["no_redis"]:
            options = _replace(options, redis_fallback=False)
        if opts["no_monitor"]:
            options = _replace(options, monitor_interval_s=None)
        _install_uvloop()
        from orchestrator_common.gc_tuning import gc_tune_for_serving

        gc_tune_for_serving()  # fewer, cheaper GC passes on the hot path (see the module)
        try:
            asyncio.run(run(options))
        except (SocketInUse, SocketDirError) as exc:
            raise CommandError(str(exc)) from None
        except DatabaseError as exc:
            raise CommandError(
                f"Cannot read the agent types from the database ({exc}); run 'manage.py migrate' first"
            ) from None
        except KeyboardInterrupt:
            pass


def _replace(options: OrchestratorOptions, **changes: Any) -> OrchestratorOptions:
    from dataclasses import replace

    return replace(options, **changes)


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
