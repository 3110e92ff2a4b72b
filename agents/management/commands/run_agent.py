"""``manage.py run_agent <type> [--instance ID] [--transport socket|redis|both]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents.runtime.runner import TRANSPORT_CHOICES, run_agent


class Command(BaseCommand):
    help = "Run one agent process of the given type until SIGTERM."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("agent_type", help="Agent type (naming, struct, semantic, manager, ...).")
        parser.add_argument("--instance", help="Instance id (default: AGT-<TYPE>-<host>-<pid>).")
        parser.add_argument(
            "--transport",
            choices=TRANSPORT_CHOICES,
            default="both",
            help="Listen on the orchestrator socket, on Redis, or both (default).",
        )
        parser.add_argument(
            "--class", dest="class_path", help="Dotted path of the Agent class (default: from agents.registry)."
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        from agents.registry import AGENT_CLASSES

        if not opts["class_path"] and opts["agent_type"] not in AGENT_CLASSES:
            raise CommandError(
                f"No agent implementation for type {opts['agent_type']!r} (see agents/registry.py, or pass --class)"
            )
        try:
            code = run_agent(
                opts["agent_type"],
                instance_id=opts["instance"],
                transport=opts["transport"],
                class_path=opts["class_path"],
            )
        except (ImportError, ValueError) as exc:
            raise CommandError(str(exc)) from None
        if code:
            raise SystemExit(code)
