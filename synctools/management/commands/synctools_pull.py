"""manage.py synctools_pull URL: replicate a remote Route into this site's database."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from synctools.client import Client, SyncError


class Command(BaseCommand):
    help = "Pull a synctools Route (or a Django JSON fixture over HTTP) into the local database, in one transaction."

    def add_arguments(self, parser) -> None:
        parser.add_argument("url", help="URL, absolute or relative to SYNCTOOL_CLIENT_ENDPOINT")
        parser.add_argument("--clean", action="store_true", help="delete local rows the reply no longer contains")
        parser.add_argument("--no-reset", action="store_true", help="do not reset primary key sequences")
        parser.add_argument("--images", action="store_true", help="download missing or changed media files")
        parser.add_argument("--incremental", action="store_true", help="only the changes since the last pull")
        parser.add_argument("--token", default=None, help="API token (default SYNCTOOL_CLIENT_TOKEN)")
        parser.add_argument("--media-url", default=None, help="base URL of the remote media files")

    def handle(self, *args, **options) -> None:
        client = Client(api_token=options["token"], media_url=options["media_url"])
        disable = True if options["verbosity"] < 1 else None  # None: a progress bar only on a terminal
        with tqdm(desc="rows", unit=" rows", file=self.stderr, disable=disable, mininterval=0.5) as bar:

            def progress(rows: int) -> None:
                bar.update(rows - bar.n)

            try:
                result = client.sync(
                    options["url"],
                    clean=options["clean"],
                    reset=not options["no_reset"],
                    images=options["images"],
                    incremental=options["incremental"],
                    progress=progress,
                )
            except SyncError as exc:
                raise CommandError(str(exc)) from exc
        kind = "incremental" if result.incremental else "full"
        self.stdout.write(
            f"{result.url}: {kind} pull, {result.rows} rows written, {result.deleted} deleted, "
            f"{result.files} files downloaded in {result.duration:.2f}s"
        )
