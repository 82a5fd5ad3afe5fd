"""Create (or rotate) the API token of a user, for scripts and other sites that call the API."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Print the API token of USERNAME, creating it when missing (--rotate replaces an existing one)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--rotate", action="store_true", help="replace the existing token with a new one")
        parser.add_argument("--create-user", action="store_true", help="create the user (no password) if missing")

    @transaction.atomic
    def handle(self, *args, username: str, rotate: bool, create_user: bool, **options):
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
            Token.objects.filter(user=user).delete()
        token, created = Token.objects.get_or_create(user=user)
        if created:
            self.stderr.write(f"created a new token for {username}")
        self.stdout.write(token.key)
