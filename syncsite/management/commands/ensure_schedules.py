"""manage.py ensure_schedules: create the default schedules once (make run calls it; the admin may change them)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from syncsite import ops


class Command(BaseCommand):
    help = "Create the default schedules (Syncthing refresh, health checks, log purge) that do not exist yet."

    def handle(self, *args, **options) -> None:
        created = ops.ensure_default_schedules()
        existing = len(ops.DEFAULT_SCHEDULES) - len(created)
        self.stdout.write(
            f"default schedules: {len(created)} created ({', '.join(created) or 'none'}), {existing} kept"
        )
