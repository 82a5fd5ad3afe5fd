"""manage.py syncthing_listen: tail the events of the enabled Syncthing instances and feed the tracker."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from syncthing_bridge import live, services
from syncthing_bridge.models import SyncthingInstance


class Command(BaseCommand):
    help = (
        "Tail /rest/events of every enabled Syncthing instance (or the named ones) and update the tracker; "
        "-v 2 prints every file change once it is applied."
    )

    def add_arguments(self, parser):
        parser.add_argument("instances", nargs="*", help="instance names (default: every enabled instance)")
        parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
        parser.add_argument("--poll-timeout", type=int, default=None, help="seconds the daemon holds a poll open")

    def handle(self, *args, **options):
        names = options["instances"]
        if names:
            instances = list(SyncthingInstance.objects.filter(name__in=names))
            missing = sorted(set(names) - {i.name for i in instances})
            if missing:
                raise CommandError(f"no such Syncthing instance: {', '.join(missing)}")
        else:
            instances = services.enabled_instances()
        if not instances:
            raise CommandError("no enabled Syncthing instance to listen to (add one in the admin)")
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        self.stdout.write(f"listening to {', '.join(i.name for i in instances)}")
        handler, level = None, live.applied_log.level
        if options["verbosity"] >= 2:
            # each change event once its row is committed: "<unix time> applied <instance> <folder> <id> <time> <path>"
            handler = logging.StreamHandler(self.stdout)
            handler.setFormatter(logging.Formatter("%(created).6f applied %(message)s"))
            live.applied_log.addHandler(handler)
            live.applied_log.setLevel(logging.DEBUG)
            live.applied_log.propagate = False
        try:
            stats = services.listen(
                instances, stop=stop, duration=options["duration"], poll_timeout=options["poll_timeout"]
            )
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
            if handler is not None:
                live.applied_log.removeHandler(handler)
                live.applied_log.setLevel(level)
                live.applied_log.propagate = True
        self.stdout.write("stopped: " + ", ".join(f"{k}={v}" for k, v in asdict(stats).items()))
