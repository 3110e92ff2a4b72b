"""Create or revoke the manager agent's process-control tokens.

manage.py manager_token            # prints a new token once; only its hash is stored
manage.py manager_token --revoke-all
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a process-control token for the manager agent (start/stop/restart_agent), or revoke all."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--revoke-all", action="store_true", help="forget every token")

    def handle(self, *args: Any, **options: Any) -> None:
        from agents.manager.services import control_token_create, control_tokens_revoke_all

        if options["revoke_all"]:
            count = control_tokens_revoke_all()
            self.stdout.write(f"revoked {count} token(s)")
            return
        token = control_token_create()
        self.stdout.write(token)
        self.stderr.write(
            "Shown once; only its hash is stored. Pass it as data.token to start_agent / stop_agent / restart_agent."
        )
