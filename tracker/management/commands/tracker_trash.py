"""`manage.py tracker_trash --site NAME list|restore|purge`: the trash of a site's volume (`.syncsite-trash`)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from tracker import services
from tracker.agent import conf, trash
from tracker.agent.volumes import VolumeURLError, parse_volume_url


class Command(BaseCommand):
    help = (
        "List, restore or purge the files the site's agent moved into its volume's trash "
        "(.syncsite-trash/<day>/<path>) when they were deleted at their origin."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--site", required=True, help="the volume's name")
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="every trashed file: day and path")
        restore = sub.add_parser("restore", help="move trashed files back (never over an existing file)")
        restore.add_argument("day", help="the trash day, YYYY-MM-DD (see list)")
        restore.add_argument("paths", nargs="+", help="tracker paths, e.g. /project/shots/s01.exr")
        purge = sub.add_parser("purge", help="remove trash days older than the retention")
        purge.add_argument("--days", type=int, help="retention in days (default: the volume's trashRetentionDays)")

    def handle(self, *args, site: str, action: str, **options) -> None:
        volume = services.get_volume(site)
        if volume is None:
            raise CommandError(f"no volume named {site!r} in the tracker")
        try:
            location = parse_volume_url(volume.get("url") or "")
        except VolumeURLError as exc:
            raise CommandError(f"volume {site}: {exc}") from exc
        if location.is_remote:
            raise CommandError(f"volume {site} is remote ({location.url}): run this on the volume's machine")
        root = location.path
        if action == "list":
            for day, path in trash.list_trash(root):
                self.stdout.write(f"{day}\t{path}")
        elif action == "restore":
            failed = 0
            for path in options["paths"]:
                try:
                    trash.restore(root, options["day"], path)
                except (trash.TrashError, OSError) as exc:
                    failed += 1
                    self.stderr.write(f"{path}: {exc}")
                else:
                    self.stdout.write(f"restored {path}")
            if failed:
                raise CommandError(f"{failed} of {len(options['paths'])} files not restored")
        else:
            days = options.get("days")
            if days is None:
                days = volume.get("trashRetentionDays")
                if isinstance(days, bool) or not isinstance(days, int) or days < 0:
                    days = conf.trash_retention_days()
            if days < 0:
                raise CommandError("--days must be >= 0")
            errors: list[str] = []
            for day in trash.purge(root, days, errors=errors):
                self.stdout.write(f"purged {day}")
            for error in errors:
                self.stderr.write(error)
            if errors:
                raise CommandError(f"{len(errors)} day folders of the trash not purged")
