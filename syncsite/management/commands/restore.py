"""manage.py restore FILE.tar.gz: put a backup's database and var/ files in place (see docs/operations.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from syncsite import backup


class Command(BaseCommand):
    help = "Restore a `manage.py backup` archive into this site's (empty or disposable) database and var/."

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", help="the archive `manage.py backup` wrote")

    def handle(self, *args, source: str, **options) -> None:
        try:
            manifest = backup.restore(Path(source))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"restored {source}: {manifest['database']} database (Syncsite {manifest.get('version')}),"
            f" {len(manifest['var'])} file(s) of var/"
        )
