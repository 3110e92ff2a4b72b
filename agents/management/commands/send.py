"""``manage.py send <agent> <action> key=value ...``: one request, print the response frame.

Values are parsed as JSON when they parse (``count=3``, ``tags='["a","b"]'``,
``flag=true``), else taken as strings (``environment=test``). Exit status:

    0  a success frame
    1  an error frame (printed like a success frame)
    2  a usage error (argparse's code: unknown option, missing argument, a pair without "=")
    3  the orchestrator cannot be reached (no socket, refused, no answer in time)

so a script can tell "the request failed" from "I called it wrong" from "nothing is running".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from agents.client import Client, ClientTimeout
from orchestrator_common.paths import socket_path

EXIT_ERROR_FRAME = 1
EXIT_USAGE = 2  # what argparse (and so Django's command parser) exits with on bad arguments
EXIT_UNREACHABLE = 3


def parse_pairs(pairs: list[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"Expected key=value, got {pair!r}", returncode=EXIT_USAGE)
        try:
            data[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data[key] = raw
    return data


class Command(BaseCommand):
    help = "Send one request through the orchestrator and print the response frame."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("agent", help="Agent type, or 'orchestrator' for status/metrics.")
        parser.add_argument("action")
        parser.add_argument(
            "pairs", nargs="*", metavar="key=value", help="Data fields; values parsed as JSON if they parse."
        )
        parser.add_argument("--socket", type=Path, help="Client socket (default: <socket dir>/orchestrator.sock).")
        parser.add_argument("--timeout", type=int, dest="timeout_ms", help="Request timeout in milliseconds.")
        parser.add_argument("--idempotency-key", help="Idempotency key for a safely repeatable request.")
        parser.add_argument("--compact", action="store_true", help="Print the frame on one line.")

    def handle(self, *args: Any, **opts: Any) -> None:
        data = parse_pairs(opts["pairs"])
        path = opts["socket"] or socket_path("client", settings.ORCHESTRATOR["SOCKET_DIR"])
        try:
            with Client(path) as client:
                frame = client.request(
                    opts["agent"],
                    opts["action"],
                    data,
                    timeout_ms=opts["timeout_ms"],
                    idempotency_key=opts["idempotency_key"],
                    interface="cli",
                )
        except (ConnectionError, FileNotFoundError, ClientTimeout, OSError) as exc:
            self.stderr.write(f"Cannot reach the orchestrator at {path}: {exc}")
            raise SystemExit(EXIT_UNREACHABLE) from exc
        option = 0 if opts["compact"] else orjson.OPT_INDENT_2
        self.stdout.write(orjson.dumps(frame, option=option).decode())
        if frame.get("status") != "success":
            raise SystemExit(EXIT_ERROR_FRAME)
