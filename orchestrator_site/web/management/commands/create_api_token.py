"""manage.py create_api_token <username> [--create] [--staff] [--rotate]: print a user's API token."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print the API token of a user (made on first use); programs send it as 'Authorization: Token <key>'."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--create", action="store_true", help="Create the user (no password) if missing.")
        parser.add_argument("--staff", action="store_true", help="Give the user staff rights (API writes).")
        parser.add_argument("--rotate", action="store_true", help="Replace an existing token with a new one.")

    @transaction.atomic
    def handle(self, *args: Any, username: str, create: bool, staff: bool, rotate: bool, **options: Any) -> None:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create:
                raise CommandError(f"No user {username!r}; pass --create to make one")
            user = User(username=username)
            user.set_unusable_password()
            user.save()
        if staff and not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
