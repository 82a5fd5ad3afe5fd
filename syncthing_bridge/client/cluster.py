"""``/rest/cluster``: pending devices and folders, accepted or dismissed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from syncthing_bridge.client.base import BaseAPI
from syncthing_bridge.client.errors import SyncthingError, SyncthingNotFoundError


class Cluster(BaseAPI):
    """``/rest/cluster``: devices and folders other devices offered and this one has not accepted yet."""

    prefix = "/rest/cluster/"

    def pending_devices(self) -> dict:
        """{device_id: {"time", "name", "address"}} of devices that tried to connect."""
        return self.get("pending/devices")

    def pending_folders(self, device: str | None = None) -> dict:
        """{folder_id: {"offeredBy": {device_id: {...}}}} of folders offered to this device."""
        return self.get("pending/folders", params={"device": device})

    def accept_device(self, device_id: str, name: str | None = None, **settings: Any) -> None:
        """Add a pending device to the config (which removes it from the pending list)."""
        pending = self.pending_devices().get(device_id, {})
        device = {"deviceID": device_id, "name": name or pending.get("name", ""), **settings}
        self._request("POST", "/rest/config/devices", device)

    def dismiss_device(self, device_id: str) -> None:
        self.delete("pending/devices", params={"device": device_id})

    def accept_folder(self, folder_id: str, device_id: str, path: str | None = None, **settings: Any) -> None:
        """Share ``folder_id`` with the offering device: add the device to the folder, or create the folder."""
        try:
            folder = self._request("GET", f"/rest/config/folders/{quote(folder_id, safe='')}")
        except SyncthingNotFoundError:
            folder = None
        if folder is not None:
            devices = folder.get("devices") or []
            if all(d.get("deviceID") != device_id for d in devices):
                devices.append({"deviceID": device_id})
            self._request(
                "PATCH", f"/rest/config/folders/{quote(folder_id, safe='')}", {"devices": devices, **settings}
            )
            return
        if not path:
            raise SyncthingError(f"folder {folder_id!r} is new here: give the path where to keep it")
        offered = self.pending_folders().get(folder_id, {}).get("offeredBy", {}).get(device_id, {})
        new = {
            "id": folder_id,
            "label": offered.get("label", folder_id),
            "path": path,
            "devices": [{"deviceID": device_id}],
            **settings,
        }
        self._request("POST", "/rest/config/folders", new)

    def dismiss_folder(self, folder_id: str, device_id: str | None = None) -> None:
        self.delete("pending/folders", params={"folder": folder_id, "device": device_id})
