"""Issue a new API token for a user, for scripts and other sites that call the API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from syncsite import tokens


class Command(BaseCommand):
    help = (
        "Issue a new API token for USERNAME and print it once (only its hash is stored). "
        "--rotate revokes the user's other tokens first."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="revoke the user's existing tokens first")
        parser.add_argument("--create-user", action="store_true", help="create the user (no password) if missing")
        parser.add_argument("--label", default="create_api_token", help="what the token is for (shown in the admin)")
        parser.add_argument(
            "--expires-in", type=int, default=None, metavar="SECONDS", help="lifetime in seconds (default: never)"
        )
        parser.add_argument(
            "--agent", action="store_true", help="agent capability: may set the tracker's per-site sync keys"
        )

    @transaction.atomic
    def handle(
        self,
        *args,
        username: str,
        rotate: bool,
        create_user: bool,
        label: str,
        expires_in: int | None,
        agent: bool,
        **options,
    ):
        if expires_in is not None and expires_in <= 0:
            raise CommandError("--expires-in must be a positive number of seconds (leave it out: never expires)")
        if len(label) > 100:
            raise CommandError("--label is limited to 100 characters")
        user_model = get_user_model()
        try:
            user = user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            if not create_user:
                raise CommandError(f"user {username!r} does not exist (use --create-user to create it)") from None
            user = user_model.objects.create_user(username=username)
            user.set_unusable_password()
            user.save()
        if rotate:
            revoked = tokens.revoke(user)
            self.stderr.write(f"revoked {revoked} token(s) of {username}")
        token, raw = tokens.issue_token(user, label=label, expires_in=expires_in, agent=agent)
        self.stderr.write(f"created token {token.prefix}… for {username}; it is shown only now")
        self.stdout.write(raw)
