"""manage.py syncthing <action>: the fleet actions from the command line (one report line per instance).

manage.py syncthing pair nas-a nas-b
manage.py syncthing accept-device nas-a DEVICE-ID [--name n] [--address tcp://...]
manage.py syncthing share photos nas-a=/srv/photos nas-b=/data/photos [--type sendonly] [--versioning simple]
manage.py syncthing unshare photos nas-b --yes
manage.py syncthing ignores photos '*.tmp' '(?d).DS_Store'     (no pattern: empty .stignore)
manage.py syncthing versioning photos staggered --param maxAge=864000
manage.py syncthing override|revert|pause-folder|resume-folder photos [--instance nas-a ...]
manage.py syncthing pause-device|resume-device DEVICE-ID [--instance nas-a ...]
manage.py syncthing refresh
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from syncthing_bridge import services
from syncthing_bridge.client import SyncthingError
from syncthing_bridge.models import SyncthingInstance


def _instances(names: list[str]) -> list[SyncthingInstance]:
    found = {i.name: i for i in SyncthingInstance.objects.filter(name__in=names)}
    missing = sorted(set(names) - set(found))
    if missing:
        raise CommandError(f"no such Syncthing instance: {', '.join(missing)}")
    return [found[n] for n in names]


def _params(items: list[str]) -> dict[str, str]:
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CommandError(f"--param wants name=value, got {item!r}")
        params[key] = value
    return params


class Command(BaseCommand):
    help = "Change the configuration of several Syncthing daemons at once (pair, share, ignores, pause, ...)."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="print the reports as JSON")
        sub = parser.add_subparsers(dest="action", required=True, metavar="action")
        p = sub.add_parser("pair", help="pair two instances with each other")
        p.add_argument("first")
        p.add_argument("second")
        p = sub.add_parser("accept-device", help="accept a pending device on an instance")
        p.add_argument("instance")
        p.add_argument("device")
        p.add_argument("--name", default="")
        p.add_argument("--address", action="append", default=[])
        p = sub.add_parser("share", help="share a folder across instances (created where missing)")
        p.add_argument("folder")
        p.add_argument("paths", nargs="+", metavar="instance=path")
        p.add_argument(
            "--type",
            default=None,
            choices=["sendreceive", "sendonly", "receiveonly"],
            help="new folders: sendreceive when not given; existing folders keep their type unless it is given",
        )
        p.add_argument("--label", default="")
        p.add_argument("--versioning", default=None, help="simple, staggered, trashcan, external ('' for none)")
        p.add_argument("--param", action="append", default=[], help="versioning parameter name=value")
        p = sub.add_parser("unshare", help="remove a folder from instances")
        p.add_argument("folder")
        p.add_argument("instances", nargs="+")
        p.add_argument("--yes", action="store_true", help="confirm: the folder stops syncing there")
        p = sub.add_parser("ignores", help="set a folder's ignore patterns everywhere")
        p.add_argument("folder")
        p.add_argument("patterns", nargs="*")
        p.add_argument("--instance", action="append", default=None)
        p = sub.add_parser("versioning", help="set a folder's versioning everywhere")
        p.add_argument("folder")
        p.add_argument("type", help="simple, staggered, trashcan, external, or '' for none")
        p.add_argument("--param", action="append", default=[])
        p.add_argument("--instance", action="append", default=None)
        for name in ("override", "revert", "pause-folder", "resume-folder"):
            p = sub.add_parser(name, help=f"{name.replace('-', ' ')} on every instance that has it")
            p.add_argument("folder")
            p.add_argument("--instance", action="append", default=None)
        for name in ("pause-device", "resume-device"):
            p = sub.add_parser(name, help=f"{name.replace('-', ' ')} in each instance's config")
            p.add_argument("device")
            p.add_argument("--instance", action="append", default=None)
        sub.add_parser("refresh", help="refresh every enabled instance now (concurrently)")

    def handle(self, *args, **options):
        action = options["action"]
        try:
            if action == "refresh":
                result = services.refresh_all()
                self.stdout.write(f"refreshed {result['refreshed']}")
                if result["failed"]:
                    raise CommandError(f"refresh failed on {', '.join(result['failed'])}")
                return
            reports = self._run(action, options)
        except services.FleetInputError as exc:
            raise CommandError(str(exc)) from exc
        except SyncthingError as exc:
            raise CommandError(f"the daemon failed: {exc}") from exc
        reports = reports if isinstance(reports, list) else [reports]
        if options["json"]:
            self.stdout.write(json.dumps(services.reports_as_dicts(reports), indent=2))
        else:
            for report in reports:
                detail = report.error or "; ".join(report.changes)
                self.stdout.write(f"{report.instance}: {report.status}" + (f" ({detail})" if detail else ""))
        failed = [r.instance for r in reports if r.status == "failed"]
        if failed:
            raise CommandError(f"failed on {', '.join(failed)}")

    def _run(self, action: str, o: dict):
        chosen = _instances(o["instance"]) if o.get("instance") else None
        if action == "pair":
            first, second = _instances([o["first"], o["second"]])
            return services.pair_instances(first, second)
        if action == "accept-device":
            (instance,) = _instances([o["instance"]])
            return services.accept_device(instance, o["device"], o["name"], o["address"] or None)
        if action == "share":
            paths = {}
            for item in o["paths"]:
                name, sep, path = item.partition("=")
                if not sep or not path:
                    raise CommandError(f"give instance=path, got {item!r}")
                paths[name] = path
            found = _instances(list(paths))
            versioning = None if o["versioning"] is None else {"type": o["versioning"], "params": _params(o["param"])}
            return services.share_folder(
                o["folder"], {i: paths[i.name] for i in found}, o["type"], versioning, o["label"]
            )
        if action == "unshare":
            return services.unshare_folder(o["folder"], _instances(o["instances"]), confirm=o["yes"])
        if action == "ignores":
            return services.set_ignores(o["folder"], o["patterns"], chosen)
        if action == "versioning":
            return services.set_versioning(o["folder"], {"type": o["type"], "params": _params(o["param"])}, chosen)
        if action in ("override", "revert"):
            func = services.override_folder if action == "override" else services.revert_folder
            return func(o["folder"], chosen)
        if action in ("pause-folder", "resume-folder"):
            return services.set_folder_paused(o["folder"], action == "pause-folder", chosen)
        return services.set_device_paused(
            o["device"], action == "pause-device", chosen if chosen is not None else services.enabled_instances()
        )
