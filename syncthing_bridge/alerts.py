"""Syncthing failures as kernel events: an instance unreachable, a device disconnected, a folder with errors.

`check()` compares the state the refresh and the listener stored and raises or resolves one event per
instance, device and folder (scheduled with the other health checks). `on_event()` is the hook the event
listener calls with each Syncthing event, so a `DeviceDisconnected` or `FolderErrors` is told without
waiting for the next check.
"""

from __future__ import annotations

from syncsite import events
from syncthing_bridge.models import SyncthingDevice, SyncthingFolder, SyncthingInstance

UNREACHABLE = "syncthing.unreachable"
DEVICE_DISCONNECTED = "syncthing.device_disconnected"
FOLDER_ERRORS = "syncthing.folder_errors"


def declare_events() -> None:
    events.declare(UNREACHABLE, "Syncthing: an instance is unreachable")
    events.declare(DEVICE_DISCONNECTED, "Syncthing: a device disconnected")
    events.declare(FOLDER_ERRORS, "Syncthing: a folder has errors")


def _device_key(instance_name: str, device_id: str) -> str:
    return f"{instance_name}/{device_id[:7]}"


def on_event(instance: SyncthingInstance, event: dict) -> None:
    """React to one event of the instance's stream (DeviceDisconnected/DeviceConnected, FolderErrors)."""
    kind = event.get("type")
    data = event.get("data") or {}
    if not isinstance(data, dict):
        return
    if kind in ("DeviceDisconnected", "DeviceConnected"):
        device = str(data.get("id") or data.get("device") or "")
        key = _device_key(instance.name, device)
        if kind == "DeviceDisconnected":
            events.emit(
                DEVICE_DISCONNECTED,
                key,
                f"Syncthing {instance.name}: device {device[:7]} disconnected ({data.get('error') or 'no reason'})",
                site=instance.site,
                url="/syncthing/",
            )
        else:
            events.resolve(DEVICE_DISCONNECTED, key, title=f"Syncthing {instance.name}: device {device[:7]} connected")
    elif kind == "FolderErrors":
        folder = str(data.get("folder") or "")
        errors = data.get("errors") or []
        lines = [f"{e.get('path')}: {e.get('error')}" for e in errors if isinstance(e, dict)]
        key = f"{instance.name}/{folder}"
        if lines:
            events.emit(
                FOLDER_ERRORS,
                key,
                f"Syncthing {instance.name}: folder {folder} has {len(lines)} error(s)",
                lines=lines,
                count=len(lines),
                site=instance.site,
                url="/syncthing/",
            )
        else:
            events.resolve(FOLDER_ERRORS, key, title=f"Syncthing {instance.name}: folder {folder} has no error")


def check() -> dict:
    """Raise or resolve the three events from the stored state of every enabled instance."""
    told = {"unreachable": [], "disconnected": [], "folder_errors": []}
    for instance in SyncthingInstance.objects.filter(enabled=True).order_by("name"):
        if instance.last_refresh is None and not instance.last_error:
            continue  # never asked yet: nothing known
        if not instance.reachable:
            events.emit(
                UNREACHABLE,
                instance.name,
                f"Syncthing {instance.name} is unreachable",
                lines=[instance.last_error] if instance.last_error else [],
                site=instance.site,
                url="/syncthing/",
            )
            told["unreachable"].append(instance.name)
            continue
        events.resolve(UNREACHABLE, instance.name, title=f"Syncthing {instance.name} is reachable again")
        for device in SyncthingDevice.objects.filter(instance=instance, is_self=False, paused=False):
            key = _device_key(instance.name, device.device_id)
            if device.connected:
                events.resolve(DEVICE_DISCONNECTED, key, title=f"Syncthing {instance.name}: {device} connected")
            else:
                events.emit(
                    DEVICE_DISCONNECTED,
                    key,
                    f"Syncthing {instance.name}: device {device.name or device.device_id[:7]} is disconnected",
                    site=instance.site,
                    url="/syncthing/",
                )
                told["disconnected"].append(key)
        for folder in SyncthingFolder.objects.filter(instance=instance).prefetch_related("errors"):
            key = f"{instance.name}/{folder.folder_id}"
            errors = list(folder.errors.all())
            if errors or folder.error:
                lines = [f"{e.path}: {e.error}" for e in errors[:200]] or [folder.error]
                events.emit(
                    FOLDER_ERRORS,
                    key,
                    f"Syncthing {instance.name}: folder {folder.label or folder.folder_id} has errors",
                    lines=lines,
                    count=max(len(errors), 1),
                    site=instance.site,
                    url="/syncthing/",
                )
                told["folder_errors"].append(key)
            else:
                events.resolve(
                    FOLDER_ERRORS, key, title=f"Syncthing {instance.name}: folder {folder.folder_id} is fine"
                )
    return told


def unreachable_instances() -> list[SyncthingInstance]:
    return list(SyncthingInstance.objects.filter(enabled=True, reachable=False).exclude(last_error="").order_by("name"))
