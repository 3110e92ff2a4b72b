"""``manage.py orchestrator_paths``: where the sockets are (for nc, scripts and supervisor)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from orchestrator_common.paths import socket_path


class Command(BaseCommand):
    help = "Print the socket directory, or with --all every socket path (client socket and one per agent type)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--all", action="store_true", help="Also list the socket of every enabled agent type.")

    def handle(self, *args: Any, **opts: Any) -> None:
        socket_dir = Path(settings.ORCHESTRATOR["SOCKET_DIR"]).resolve()
        if not opts["all"]:
            self.stdout.write(str(socket_dir))
            return
        from django.db import DatabaseError

        from agents.models import AgentType

        self.stdout.write(f"socket directory: {socket_dir}")
        self.stdout.write(f"client socket:    {socket_path('client', socket_dir)}")
        try:
            names = list(AgentType.objects.filter(enabled=True).order_by("name").values_list("name", flat=True))
        except DatabaseError as exc:
            self.stderr.write(f"(agent types unknown: {exc}; run 'manage.py migrate')")
            return
        for name in names:
            self.stdout.write(f"{name + ':':<18}{socket_path('agent', socket_dir, name)}")
