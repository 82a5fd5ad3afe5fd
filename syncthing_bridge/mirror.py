"""The full refresh: copy each daemon's devices, folders, completion, errors and pending offers into the database.

The daemons are asked concurrently (one pooled client each, in a thread pool); the answers are then written in one
transaction per instance from the calling thread, so the database sees one writer.
"""

from __future__ import annotations

import concurrent.futures
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from syncthing_bridge import services
from syncthing_bridge.client import Syncthing, SyncthingError
from syncthing_bridge.models import (
    FolderCompletion,
    FolderError,
    PendingDevice,
    PendingFolder,
    SyncthingDevice,
    SyncthingFolder,
    SyncthingInstance,
)

logger = logging.getLogger(__name__)

MAX_PARALLEL_REFRESH = 16


@dataclass
class DaemonState:
    """What one daemon reported in a refresh (no database involved)."""

    version: dict
    status: dict
    config: dict
    connections: dict
    device_stats: dict
    folders: list[tuple[dict, dict, list[tuple[str, dict]], list[dict]]] = field(default_factory=list)
    pending_devices: dict = field(default_factory=dict)
    pending_folders: dict = field(default_factory=dict)
    read_at: datetime = field(default_factory=timezone.now)


def local_completion(status: dict) -> float:
    """Percent of the folder's global bytes this copy has (100 when there is nothing to have)."""
    total = status.get("globalBytes") or 0
    need = status.get("needBytes") or 0
    return 100.0 if total <= 0 else max(0.0, min(100.0, 100.0 * (total - need) / total))


def fetch_state(st: Syncthing) -> DaemonState:
    """Ask the daemon everything the mirror holds; SyncthingError when it fails."""
    state = DaemonState(
        version=st.system.version(),
        status=st.system.status(),
        config=st.config.get_config(),
        connections=st.system.connections().get("connections", {}),
        device_stats=st.stats.device(),
    )
    my_id = state.status.get("myID", "")
    for folder in state.config.get("folders", []):
        fid = folder["id"]
        errors: list[dict] = []
        try:
            fstatus = {} if folder.get("paused") else st.db.status(fid)
            if fstatus.get("pullErrors"):
                errors = st.folder.errors(fid).get("errors") or []
        except SyncthingError as exc:
            fstatus = {"state": "error", "error": str(exc)}
        completions = []
        for dev in folder.get("devices", []):
            did = dev["deviceID"]
            if did == my_id:
                continue
            try:
                completions.append((did, st.db.completion_details(fid, did)))
            except SyncthingError:
                continue
        state.folders.append((folder, fstatus, completions, errors))
    state.pending_devices = st.cluster.pending_devices() or {}
    state.pending_folders = st.cluster.pending_folders() or {}
    return state


def _rate(total: int, previous_total: int, previous_at: datetime | None, now: datetime) -> float:
    if previous_at is None or total < previous_total:
        return 0.0
    seconds = (now - previous_at).total_seconds()
    return (total - previous_total) / seconds if seconds > 0 else 0.0


def store_devices(instance: SyncthingInstance, names: dict[str, str], my_id: str, connections: dict, stats: dict):
    """Upsert the configured devices with connection state and byte rates (from the previous totals)."""
    now = timezone.now()
    previous = {
        d["device_id"]: d
        for d in SyncthingDevice.objects.filter(instance=instance).values(
            "device_id", "in_bytes_total", "out_bytes_total", "bytes_at"
        )
    }
    rows = []
    for did, name in names.items():
        conn = connections.get(did, {})
        before = previous.get(did, {"in_bytes_total": 0, "out_bytes_total": 0, "bytes_at": None})
        inb, outb = int(conn.get("inBytesTotal") or 0), int(conn.get("outBytesTotal") or 0)
        rows.append(
            SyncthingDevice(
                instance=instance,
                device_id=did,
                name=name,
                is_self=did == my_id,
                connected=bool(conn.get("connected")),
                paused=bool(conn.get("paused")),
                address=conn.get("address", "") or "",
                client_version=conn.get("clientVersion", "") or "",
                last_seen=services._when(stats.get(did, {}).get("lastSeen")),
                in_bytes_total=inb,
                out_bytes_total=outb,
                in_bytes_per_second=_rate(inb, before["in_bytes_total"], before["bytes_at"], now),
                out_bytes_per_second=_rate(outb, before["out_bytes_total"], before["bytes_at"], now),
                bytes_at=now,
            )
        )
    SyncthingDevice.objects.filter(instance=instance).exclude(device_id__in=list(names)).delete()
    SyncthingDevice.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["instance", "device_id"],
        update_fields=[
            "name",
            "is_self",
            "connected",
            "paused",
            "address",
            "client_version",
            "last_seen",
            "in_bytes_total",
            "out_bytes_total",
            "in_bytes_per_second",
            "out_bytes_per_second",
            "bytes_at",
        ],
    )


def store_rates(instance: SyncthingInstance, connections: dict) -> bool:
    """Byte totals and rates of the instance's devices from a fresh `/rest/system/connections` (the listener
    samples it between refreshes, so the page shows current rates); True when any device is transferring."""
    now = timezone.now()
    devices = list(
        SyncthingDevice.objects.filter(instance=instance, device_id__in=list(connections)).only(
            "pk", "device_id", "in_bytes_total", "out_bytes_total", "bytes_at"
        )
    )
    moving = False
    for device in devices:
        conn = connections.get(device.device_id) or {}
        inb, outb = int(conn.get("inBytesTotal") or 0), int(conn.get("outBytesTotal") or 0)
        device.in_bytes_per_second = _rate(inb, device.in_bytes_total, device.bytes_at, now)
        device.out_bytes_per_second = _rate(outb, device.out_bytes_total, device.bytes_at, now)
        device.in_bytes_total, device.out_bytes_total, device.bytes_at = inb, outb, now
        moving = moving or device.in_bytes_per_second > 0 or device.out_bytes_per_second > 0
    SyncthingDevice.objects.bulk_update(
        devices, ["in_bytes_total", "out_bytes_total", "in_bytes_per_second", "out_bytes_per_second", "bytes_at"]
    )
    return moving


def store_pending(instance: SyncthingInstance, devices: dict, folders: dict) -> None:
    """Replace the instance's pending devices and folder offers with what the daemon lists."""
    PendingDevice.objects.filter(instance=instance).delete()
    PendingDevice.objects.bulk_create(
        PendingDevice(
            instance=instance,
            device_id=did,
            name=(info or {}).get("name", "") or "",
            address=(info or {}).get("address", "") or "",
            seen=services._when((info or {}).get("time")),
        )
        for did, info in devices.items()
    )
    PendingFolder.objects.filter(instance=instance).delete()
    PendingFolder.objects.bulk_create(
        PendingFolder(
            instance=instance,
            folder_id=fid,
            label=(offer or {}).get("label", "") or "",
            offered_by=did,
            seen=services._when((offer or {}).get("time")),
        )
        for fid, info in folders.items()
        for did, offer in ((info or {}).get("offeredBy") or {}).items()
    )


def folder_fields(folder: dict, fstatus: dict) -> dict[str, Any]:
    """The mirrored columns of a folder, from its config and its /rest/db/status (or FolderSummary)."""
    return {
        "label": folder.get("label", ""),
        "path": folder.get("path", ""),
        "folder_type": folder.get("type", ""),
        "paused": bool(folder.get("paused")),
        **status_fields(fstatus, paused=bool(folder.get("paused"))),
    }


def status_fields(fstatus: dict, paused: bool = False) -> dict[str, Any]:
    return {
        "state": "paused" if paused else fstatus.get("state", ""),
        "error": fstatus.get("error", "") or "",
        "need_bytes": fstatus.get("needBytes", 0) or 0,
        "need_items": (fstatus.get("needFiles", 0) or 0)
        + (fstatus.get("needDirectories", 0) or 0)
        + (fstatus.get("needSymlinks", 0) or 0)
        + (fstatus.get("needDeletes", 0) or 0),
        "global_bytes": fstatus.get("globalBytes", 0) or 0,
        "local_bytes": fstatus.get("localBytes", 0) or 0,
        "pull_errors": fstatus.get("pullErrors", 0) or 0,
        "completion": local_completion(fstatus),
    }


def store_state(instance: SyncthingInstance, state: DaemonState) -> None:
    """Write one daemon's state in one transaction."""
    my_id = state.status.get("myID", "")
    names = {d["deviceID"]: d.get("name", "") for d in state.config.get("devices", [])}
    with transaction.atomic():
        SyncthingInstance.objects.filter(pk=instance.pk).update(
            reachable=True,
            last_error="",
            version=state.version.get("version", ""),
            device_id=my_id,
            uptime=state.status.get("uptime"),
            last_refresh=state.read_at,
        )
        store_devices(instance, names, my_id, state.connections, state.device_stats)
        rows = [
            SyncthingFolder(instance=instance, folder_id=folder["id"], **folder_fields(folder, fstatus))
            for folder, fstatus, _, _ in state.folders
        ]
        SyncthingFolder.objects.filter(instance=instance).exclude(
            folder_id__in=[f["id"] for f, _, _, _ in state.folders]
        ).delete()
        SyncthingFolder.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["instance", "folder_id"],
            update_fields=SyncthingFolder.MIRRORED_FIELDS,
        )
        pks = dict(SyncthingFolder.objects.filter(instance=instance).values_list("folder_id", "pk"))
        FolderCompletion.objects.filter(folder__instance=instance).delete()
        FolderCompletion.objects.bulk_create(
            FolderCompletion(
                folder_id=pks[folder["id"]],
                device_id=did,
                device_name=names.get(did, ""),
                completion=float(details.get("completion", 0) or 0),
                need_bytes=details.get("needBytes", 0) or 0,
                need_items=details.get("needItems", 0) or 0,
            )
            for folder, _, completions, _ in state.folders
            for did, details in completions
        )
        FolderError.objects.filter(folder__instance=instance).delete()
        FolderError.objects.bulk_create(
            FolderError(folder_id=pks[folder["id"]], path=e.get("path", ""), error=e.get("error", ""))
            for folder, _, _, errors in state.folders
            for e in errors
        )
        store_pending(instance, state.pending_devices, state.pending_folders)
    instance.reachable, instance.last_error, instance.device_id = True, "", my_id


def _fetch(instance: SyncthingInstance) -> DaemonState | SyncthingError:
    try:
        with services.client_for(instance) as st:
            return fetch_state(st)
    except SyncthingError as exc:
        return exc


def refresh_instances(instances: list[SyncthingInstance], parallel: int = MAX_PARALLEL_REFRESH) -> list[str]:
    """Refresh these instances, asking the daemons concurrently; the names of those that failed."""
    if parallel > 1 and len(instances) > 1:
        with concurrent.futures.ThreadPoolExecutor(min(parallel, len(instances))) as pool:
            answers = list(pool.map(_fetch, instances))
    else:
        answers = [_fetch(i) for i in instances]
    failed = []
    for instance, answer in zip(instances, answers, strict=True):
        if isinstance(answer, SyncthingError):
            services._record_error(instance, answer)
            logger.warning("refresh of %s failed: %s", instance.name, answer)
            failed.append(instance.name)
        else:
            from syncthing_bridge.live import database_turn

            with database_turn():
                store_state(instance, answer)
    return failed


def refresh_instance(instance: SyncthingInstance) -> bool:
    """Mirror one daemon's state into the database. False when it is unreachable (the error is recorded)."""
    return not refresh_instances([instance])


def refresh_all() -> dict:
    """Refresh every enabled instance (the scheduled task). Returns {"refreshed": n, "failed": [names]}."""
    instances = services.enabled_instances()
    failed = refresh_instances(instances)
    return {"refreshed": len(instances) - len(failed), "failed": failed}
