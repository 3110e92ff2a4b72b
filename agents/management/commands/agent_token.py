"""``manage.py agent_token <type> [--rotate [--save]] [--clear]``: an agent type's hello token.

Without options it tells whether the type has a token and when it was last
rotated. ``--rotate`` makes a new one and prints it once (only its hash is
stored); ``--save`` also writes it to ``<AGENT_TOKEN_DIR>/<type>.token``
(0600), where agents started on this machine find it. Agents already
connected stay connected; the orchestrator checks new hellos against the new
hash after its next agent-type refresh (TYPES_REFRESH_S, 30 s) or restart.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from agents import auth
from agents.models import AgentType


class Command(BaseCommand):
    help = "Show, rotate or clear the secret token an agent type's hello must present."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("agent_type")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--rotate", action="store_true", help="Generate a new token and print it once.")
        group.add_argument("--clear", action="store_true", help="Remove the token (any hello is accepted again).")
        parser.add_argument(
            "--save", action="store_true", help="With --rotate: also write the token to the agent token file (0600)."
        )
        parser.add_argument("--quiet", action="store_true", help="With --rotate: print only the token.")
        parser.add_argument(
            "--redis-acl",
            action="store_true",
            help="Also (re)create the type's Redis ACL user agent-<type> with the token as its "
            "password (agents/redis_acl.py).",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        name = opts["agent_type"]
        try:
            row = AgentType.objects.get(name=name)
        except AgentType.DoesNotExist:
            raise CommandError(f"No agent type named {name!r}") from None
        if opts["clear"]:
            auth.agent_token_clear(agent_type=name)
            auth.agent_token_remove_file(agent_type=name)
            self.stdout.write(f"Token of {name} cleared: its socket accepts any agent hello.")
            return
        if not opts["rotate"]:
            state = f"set (rotated {row.token_rotated_at:%Y-%m-%d %H:%M:%S %Z})" if row.token_hash else "not set"
            self.stdout.write(f"{name}: token {state}")
            if opts["redis_acl"] and row.token_hash:
                self._apply_acl(name, row.token_hash)
            return
        token = auth.agent_token_rotate(agent_type=name)
        if opts["quiet"]:
            self.stdout.write(token)
        else:
            self.stdout.write(f"New token for {name} (shown once; only its hash is stored):\n{token}")
        if opts["save"]:
            path = auth.agent_token_write_file(agent_type=name, token=token)
            if not opts["quiet"]:
                self.stdout.write(f"Saved to {path} (mode 0600).")
        if opts["redis_acl"]:
            self._apply_acl(name, auth.token_hash(token))

    def _apply_acl(self, name: str, token_hash: str) -> None:
        from django.conf import settings

        from agents.redis_acl import redis_acl_apply

        user = redis_acl_apply(
            agent_type=name,
            token_hash=token_hash,
            redis_url=settings.REDIS_URL,
            prefix=settings.REDIS_KEY_PREFIX,
            legacy_channel_prefix=settings.REDIS_TRANSPORT["LEGACY_CHANNEL_PREFIX"],
        )
        self.stderr.write(f"Redis ACL user {user} set (password: the agent token).")
