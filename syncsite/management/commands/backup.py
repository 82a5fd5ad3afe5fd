"""manage.py backup FILE.tar.gz: the database (pg_dump or SQLite's online backup) and var/ in one archive."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from syncsite import backup


class Command(BaseCommand):
    help = "Back up the database and var/ (secret key, media) into one .tar.gz (mode 0600: it holds secrets)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("destination", help="the archive to write, e.g. backups/syncsite-2026-01-31.tar.gz")

    def handle(self, *args, destination: str, **options) -> None:
        try:
            manifest = backup.backup(Path(destination))
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"backup {destination}: {manifest['database']} database, {len(manifest['var'])} file(s) of var/"
        )
