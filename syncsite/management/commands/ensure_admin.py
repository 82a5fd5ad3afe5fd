"""Make sure a first administrator exists, so a fresh install can be signed into at once."""

from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the superuser ADMIN_USERNAME (default 'admin') if no superuser exists. The password is "
        "ADMIN_PASSWORD when set, otherwise generated and printed once."
    )

    def handle(self, *args, **options):
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            self.stdout.write("an administrator already exists; nothing to do")
            return
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        email = os.environ.get("ADMIN_EMAIL", "")
        user_model.objects.create_superuser(username=username, email=email, password=password)
        if os.environ.get("ADMIN_PASSWORD"):
            self.stdout.write(f"created administrator {username!r} with the password from ADMIN_PASSWORD")
        else:
            self.stdout.write(f"created administrator {username!r} with password: {password}")
            self.stdout.write("(shown once: change it in the admin, or set ADMIN_PASSWORD before the first run)")
