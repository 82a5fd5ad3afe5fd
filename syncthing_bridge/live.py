"""Live state: the listener's events update the mirrored state at once, between full refreshes.

Connections, folder summaries and errors, completion, pending offers and changed files each touch only the rows
they describe. `ConfigSaved` re-reads the whole daemon. Conflict copies (`.sync-conflict-*`) are listed per
folder and reported to the tracker as the state of the original file at the instance's site.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from django.db import connection, transaction
from django.utils import timezone

from syncthing_bridge import services
from syncthing_bridge.client import Syncthing
from syncthing_bridge.models import (
    FolderCompletion,
    FolderConflict,
    FolderError,
    SyncthingDevice,
    SyncthingFolder,
    SyncthingInstance,
    VolumeMapping,
)

logger = logging.getLogger(__name__)
#: One DEBUG line per file change event once its row is committed ("<instance> <folder> <event id> <event time>
#: <path>"): what `syncthing_listen -v 2` prints, and how the benchmark counts applied events per file.
applied_log = logging.getLogger("syncthing_bridge.live.applied")

STATE_EVENTS = frozenset(
    {
        "DeviceConnected",
        "DeviceDisconnected",
        "DevicePaused",
        "DeviceResumed",
        "FolderErrors",
        "FolderSummary",
        "FolderCompletion",
        "FolderPaused",
        "FolderResumed",
        "StateChanged",
        "PendingDevicesChanged",
        "PendingFoldersChanged",
        "ConfigSaved",
        "LocalChangeDetected",
        "RemoteChangeDetected",
        "LocalIndexUpdated",
        "ItemFinished",
    }
)
_SQLITE_TURN = threading.RLock()


@contextmanager
def database_turn() -> Iterator[None]:
    """On SQLite, the listener threads write one at a time (its locks are per database, or per table in shared
    cache, and a second writer fails at once); PostgreSQL needs no such turn."""
    if connection.vendor == "sqlite":
        with _SQLITE_TURN:
            yield
    else:
        yield


CONFLICT = re.compile(r"^(?P<stem>.*)\.sync-conflict-\d{8}-\d{6}-[A-Z0-9]{7}(?P<ext>\.[^/]*)?$")


def conflict_original(path: str) -> str | None:
    """The file a conflict copy belongs to (`a/b.sync-conflict-20240101-120000-ABCDEFG.txt` → `a/b.txt`)."""
    name = PurePosixPath(path)
    match = CONFLICT.match(name.name)
    if not match:
        return None
    original = match["stem"] + (match["ext"] or "")
    return str(name.with_name(original)) if str(name.parent) != "." else original


def apply_events(instance: SyncthingInstance, events: list[dict], st: Syncthing) -> int:
    """Update the mirrored state from a batch of events; the number of events that changed something."""
    relevant = [e for e in events if e.get("type") in STATE_EVENTS]
    if not relevant:
        return 0
    if any(e["type"] == "ConfigSaved" for e in relevant):
        services.refresh_instance(instance)  # folders or devices added, removed or changed: re-read all
    pending = {e["type"] for e in relevant} & {"PendingDevicesChanged", "PendingFoldersChanged"}
    pending_lists = (st.cluster.pending_devices() or {}, st.cluster.pending_folders() or {}) if pending else None
    folders = {f.folder_id: f for f in SyncthingFolder.objects.filter(instance=instance)}
    conflicts: dict[tuple[str, str], bool] = {}  # (folder, conflict copy) -> present
    applied = 0
    with transaction.atomic():
        for event in relevant:
            applied += _apply_one(instance, event, folders, conflicts)
        if applied_log.isEnabledFor(logging.DEBUG):
            changes = [e for e in relevant if e["type"] in CHANGE_EVENTS]
            transaction.on_commit(lambda: _log_applied(instance.name, changes))
        if pending_lists is not None:
            from syncthing_bridge.mirror import store_pending

            store_pending(instance, *pending_lists)
            applied += 1
        if conflicts:
            _store_conflicts(instance, folders, conflicts)
    return applied


CHANGE_EVENTS = ("LocalChangeDetected", "RemoteChangeDetected")


def _log_applied(instance_name: str, events: list[dict]) -> None:
    for event in events:
        data = event.get("data") or {}
        applied_log.debug(
            "%s %s %s %s %s",
            instance_name,
            data.get("folderID") or data.get("folder", ""),
            event.get("id"),
            event.get("time", ""),
            data.get("path", ""),
        )


def _apply_one(instance: SyncthingInstance, event: dict, folders: dict, conflicts: dict) -> int:
    kind, data = event["type"], event.get("data") or {}
    devices = SyncthingDevice.objects.filter(instance=instance)
    if kind == "DeviceConnected":
        devices.filter(device_id=data.get("id", "")).update(
            connected=True, address=str(data.get("addr") or ""), client_version=str(data.get("clientVersion") or "")
        )
    elif kind == "DeviceDisconnected":
        devices.filter(device_id=data.get("id", "")).update(connected=False)
    elif kind in ("DevicePaused", "DeviceResumed"):
        paused = kind == "DevicePaused"
        devices.filter(device_id=data.get("device", "")).update(
            paused=paused, **({"connected": False} if paused else {})
        )
    elif kind in ("FolderPaused", "FolderResumed"):
        folder = folders.get(data.get("id", ""))
        if folder is None:
            return 0
        paused = kind == "FolderPaused"
        SyncthingFolder.objects.filter(pk=folder.pk).update(paused=paused, **({"state": "paused"} if paused else {}))
    elif kind == "StateChanged":
        folder = folders.get(data.get("folder", ""))
        if folder is None:
            return 0
        SyncthingFolder.objects.filter(pk=folder.pk).update(state=str(data.get("to") or ""))
    elif kind == "FolderSummary":
        folder = folders.get(data.get("folder", ""))
        if folder is None:
            return 0
        from syncthing_bridge.mirror import status_fields

        fields = status_fields(data.get("summary") or {}, folder.paused)
        SyncthingFolder.objects.filter(pk=folder.pk).update(**fields)
        if not fields["pull_errors"]:
            FolderError.objects.filter(folder=folder).delete()  # no FolderErrors event says the errors are gone
    elif kind == "FolderErrors":
        folder = folders.get(data.get("folder", ""))
        if folder is None:
            return 0
        errors = data.get("errors") or []
        FolderError.objects.filter(folder=folder).delete()
        FolderError.objects.bulk_create(
            FolderError(folder=folder, path=str(e.get("path") or ""), error=str(e.get("error") or "")) for e in errors
        )
        SyncthingFolder.objects.filter(pk=folder.pk).update(pull_errors=len(errors))
    elif kind == "FolderCompletion":
        folder = folders.get(data.get("folder", ""))
        if folder is None:
            return 0
        did = data.get("device", "")
        name = devices.filter(device_id=did).values_list("name", flat=True).first() or ""
        FolderCompletion.objects.update_or_create(
            folder=folder,
            device_id=did,
            defaults={
                "device_name": name,
                "completion": float(data.get("completion") or 0),
                "need_bytes": int(data.get("needBytes") or 0),
                "need_items": int(data.get("needItems") or 0),
            },
        )
    elif kind in CHANGE_EVENTS:
        folder_id = data.get("folderID") or data.get("folder", "")
        path = str(data.get("path") or "")
        if folder_id in folders:
            SyncthingFolder.objects.filter(pk=folders[folder_id].pk).update(
                last_change=timezone.now(), last_change_path=path[:2000]
            )
        _note_conflict(folders, conflicts, folder_id, path, data.get("action") != "deleted")
    elif kind == "ItemFinished":
        _note_conflict(folders, conflicts, data.get("folder", ""), str(data.get("item") or ""), not data.get("error"))
    elif kind == "LocalIndexUpdated":
        for name in data.get("filenames") or []:
            _note_conflict(folders, conflicts, data.get("folder", ""), str(name), None)
    else:
        return 0
    return 1


def _note_conflict(folders: dict, conflicts: dict, folder_id: str, path: str, present: bool | None) -> None:
    """Remember a conflict copy seen in an event; `present` None means "look on disk" (index updates say no more)."""
    if folder_id not in folders or conflict_original(path) is None:
        return
    if present is None:
        if not _exists(folders[folder_id].path, path):
            return  # maybe only on the daemon's machine: the disk events say when it goes
        present = True
    conflicts[(folder_id, path)] = present


def _exists(root: str, path: str) -> bool:
    try:
        return bool(root) and (Path(root).expanduser() / path).exists()
    except OSError:
        return False


def _store_conflicts(instance: SyncthingInstance, folders: dict, conflicts: dict) -> None:
    now = timezone.now()
    touched: set[tuple[str, str]] = set()
    for (folder_id, path), present in conflicts.items():
        folder = folders[folder_id]
        original = conflict_original(path) or path
        touched.add((folder_id, original))
        if present:
            FolderConflict.objects.get_or_create(
                folder=folder, path=path, defaults={"original": original, "detected": now}
            )
        else:
            FolderConflict.objects.filter(folder=folder, path=path).delete()
    report_conflicts(instance, touched)


def report_conflicts(instance: SyncthingInstance, originals: set[tuple[str, str]]) -> int:
    """Tell the tracker which files have conflict copies at this site: `syncConflict_<site>` on the original's
    node lists the copies (removed when none are left). Files outside a volume mapping are not tracked."""
    if not instance.site or not originals:
        return 0
    mappings = {m.folder_id: m for m in VolumeMapping.objects.filter(instance=instance)}
    items = []
    for folder_id, original in sorted(originals):
        mapping = mappings.get(folder_id)
        if mapping is None:
            continue
        copies = sorted(
            FolderConflict.objects.filter(
                folder__instance=instance, folder__folder_id=folder_id, original=original
            ).values_list("path", flat=True)
        )
        items.append({"_id": mapping.tracker_path(original), f"syncConflict_{instance.site}": copies or None})
    if not items:
        return 0
    from tracker import services as tracker_services

    results = tracker_services.update_nodes(items, trusted=True)
    return sum(1 for r in results if isinstance(r, dict))
