"""manage.py monitor_providers [--once] [--interval S]

Runs the provider health and spend monitor: one pass with --once (prints the
result as JSON), else forever every --interval seconds (default
ORCHESTRATOR["MONITOR_INTERVAL_S"]) until SIGTERM/SIGINT. The orchestrator
normally runs the same pass itself; this is for cron, debugging and setups
without the orchestrator.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from llmrouter.monitor import run_monitor_pass


class Command(BaseCommand):
    help = "Check provider health URLs and log budget spend (one pass with --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="run one pass and exit")
        parser.add_argument("--interval", type=float, default=None, help="seconds between passes")

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["once"]:
            self.stdout.write(json.dumps(run_monitor_pass(), indent=2, default=str))
            return
        interval = opts["interval"] or float(settings.ORCHESTRATOR["MONITOR_INTERVAL_S"])
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.is_set():
            result = run_monitor_pass()
            for event in result["events"]:
                self.stdout.write(json.dumps(event, default=str))
            self.stdout.flush()
            stop.wait(interval)
