"""Fleet actions in the admin, on the selected Syncthing instances (a mixin of SyncthingInstanceAdmin).

The folder or device id goes in the box next to the action. Sharing a folder, removing it and editing ignore patterns
show an intermediate page first: the path on each instance, a confirmation, and the patterns to set.
"""

from __future__ import annotations

from itertools import combinations

from django.contrib import admin, messages
from django.template.response import TemplateResponse

from syncthing_bridge import services
from syncthing_bridge.client import SyncthingError

MAX_PATH = 4000  # as the API's share argument


class FleetActions:
    """Admin actions that call the fleet services and show each instance's report as a message."""

    actions = [
        "pair_selected",
        "accept_pending_device",
        "share_folder",
        "unshare_folder",
        "edit_ignores",
        "set_versioning",
        "pause_folder",
        "resume_folder",
        "override_folder",
        "revert_folder",
    ]

    def _reports(self, request, run) -> None:
        try:
            reports = run()
        except services.FleetInputError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        except SyncthingError as exc:
            self.message_user(request, f"the daemon failed: {exc}", messages.ERROR)
            return
        for report in reports if isinstance(reports, list) else [reports]:
            if report.error:
                self.message_user(request, f"{report.instance}: {report.error}", messages.ERROR)
            else:
                text = "; ".join(report.changes) or "unchanged"
                self.message_user(request, f"{report.instance}: {text}", messages.SUCCESS)

    @admin.action(description="Pair the selected instances with each other")
    def pair_selected(self, request, queryset):
        chosen = list(queryset)
        if len(chosen) < 2:
            self.message_user(request, "Select at least two instances to pair.", messages.ERROR)
            return
        for first, second in combinations(chosen, 2):
            self._reports(request, lambda f=first, s=second: services.pair_instances(f, s))

    @admin.action(description="Accept pending device (id in the box)")
    def accept_pending_device(self, request, queryset):
        if device := self._argument(request):
            for instance in queryset:
                self._reports(request, lambda i=instance: services.accept_device(i, device))

    @admin.action(description="Share folder (id in the box) across the selected, with a path for each where new…")
    def share_folder(self, request, queryset):
        folder = self._argument(request)
        if not folder:
            return None
        chosen = list(queryset)
        if request.POST.get("confirmed") != "yes":
            rows = [(instance, f"~/{folder}") for instance in chosen]
            return self._intermediate(request, queryset, "share_folder", folder, share=True, rows=rows)
        paths = {}
        for instance in chosen:
            path = request.POST.get(f"path_{instance.pk}", "").strip() or f"~/{folder}"
            if "\x00" in path or len(path) > MAX_PATH:
                self.message_user(request, f"{instance.name}: not a usable folder path", messages.ERROR)
                return None
            paths[instance] = path
        self._reports(request, lambda: services.share_folder(folder, paths))
        return None

    @admin.action(description="Unshare and remove folder (id in the box) from the selected…")
    def unshare_folder(self, request, queryset):
        folder = self._argument(request)
        if not folder:
            return None
        if request.POST.get("confirmed") == "yes":
            self._reports(request, lambda: services.unshare_folder(folder, list(queryset), confirm=True))
            return None
        return self._intermediate(request, queryset, "unshare_folder", folder, confirm=True)

    @admin.action(description="Edit ignore patterns of folder (id in the box)…")
    def edit_ignores(self, request, queryset):
        folder = self._argument(request)
        if not folder:
            return None
        if request.POST.get("confirmed") == "yes":
            patterns = [line for line in request.POST.get("patterns", "").splitlines() if line.strip()]
            self._reports(request, lambda: services.set_ignores(folder, patterns, list(queryset)))
            return None
        return self._intermediate(request, queryset, "edit_ignores", folder, patterns=True)

    @admin.action(description="Set versioning: '<folder> <type> [name=value ...]' in the box")
    def set_versioning(self, request, queryset):
        words = self._argument(request).split()
        if len(words) < 2 or any("=" not in w for w in words[2:]):
            self.message_user(request, "Write: folder type [name=value ...], e.g. photos simple keep=5", messages.ERROR)
            return
        params = dict(w.split("=", 1) for w in words[2:])
        kind = "" if words[1] == "none" else words[1]
        versioning = {"type": kind, "params": params}
        self._reports(request, lambda: services.set_versioning(words[0], versioning, list(queryset)))

    @admin.action(description="Pause folder (id in the box)")
    def pause_folder(self, request, queryset):
        if folder := self._argument(request):
            self._reports(request, lambda: services.set_folder_paused(folder, True, list(queryset)))

    @admin.action(description="Resume folder (id in the box)")
    def resume_folder(self, request, queryset):
        if folder := self._argument(request):
            self._reports(request, lambda: services.set_folder_paused(folder, False, list(queryset)))

    @admin.action(description="Override changes of send-only folder (id in the box)")
    def override_folder(self, request, queryset):
        if folder := self._argument(request):
            self._reports(request, lambda: services.override_folder(folder, list(queryset)))

    @admin.action(description="Revert local changes of receive-only folder (id in the box)")
    def revert_folder(self, request, queryset):
        if folder := self._argument(request):
            self._reports(request, lambda: services.revert_folder(folder, list(queryset)))

    def _intermediate(self, request, queryset, action: str, folder: str, **flags) -> TemplateResponse:
        current = ""
        if flags.get("patterns"):
            for instance in queryset:
                try:
                    with services.client_for(instance) as st:
                        current = "\n".join(st.db.ignores(folder).get("ignore") or [])
                    break
                except SyncthingError:
                    continue
        context = {
            **self.admin_site.each_context(request),
            "title": "Remove folder"
            if flags.get("confirm")
            else "Share folder"
            if flags.get("share")
            else "Ignore patterns",
            "opts": self.model._meta,
            "queryset": queryset,
            "action": action,
            "folder": folder,
            "current": current,
            **flags,
        }
        return TemplateResponse(request, "admin/syncthing_bridge/fleet_intermediate.html", context)
