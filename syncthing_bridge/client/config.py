"""``/rest/config``: the configuration as objects and collections, with get/put/patch/delete."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from syncthing_bridge.client.base import BaseAPI


class ConfigObject:
    """One object of the config (options, gui, ldap, defaults/folder, defaults/device): get, put, patch."""

    def __init__(self, api: BaseAPI, path: str):
        self._api = api
        self._path = path

    def get(self) -> dict:
        return self._api._request("GET", self._path)

    def put(self, value: dict) -> None:
        self._api._request("PUT", self._path, value)

    def patch(self, changes: dict) -> None:
        self._api._request("PATCH", self._path, changes)


class ConfigCollection:
    """Folders or devices of the config: list, get, add (one or many), put, patch, delete by id."""

    def __init__(self, api: BaseAPI, path: str, id_key: str):
        self._api = api
        self._path = path
        self._id_key = id_key

    def _item(self, item_id: str) -> str:
        return f"{self._path}/{quote(item_id, safe='')}"

    def list(self) -> list[dict]:
        return self._api._request("GET", self._path)

    def get(self, item_id: str) -> dict:
        return self._api._request("GET", self._item(item_id))

    def add(self, item: dict | Iterable[dict]) -> None:
        """Add (or replace) one object, or several; unset fields take the configured defaults."""
        for one in [item] if isinstance(item, dict) else item:
            self._api._request("POST", self._path, one)

    def put(self, item: dict) -> None:
        """Replace (or create) the object whose id is in ``item``."""
        self._api._request("PUT", self._item(item[self._id_key]), item)

    def patch(self, item_id: str, changes: dict) -> None:
        self._api._request("PATCH", self._item(item_id), changes)

    def delete(self, item_id: str) -> None:
        self._api._request("DELETE", self._item(item_id))

    def replace_all(self, items: list[dict]) -> None:
        """Replace the whole list (PUT on the collection)."""
        self._api._request("PUT", self._path, items)


class Config(BaseAPI):
    """``/rest/config``: the whole config and its parts, with get/put/patch/delete (Syncthing >= 1.12)."""

    prefix = "/rest/config/"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.folders = ConfigCollection(self, "/rest/config/folders", "id")
        self.devices = ConfigCollection(self, "/rest/config/devices", "deviceID")
        self.options = ConfigObject(self, "/rest/config/options")
        self.gui = ConfigObject(self, "/rest/config/gui")
        self.ldap = ConfigObject(self, "/rest/config/ldap")
        self.default_folder = ConfigObject(self, "/rest/config/defaults/folder")
        self.default_device = ConfigObject(self, "/rest/config/defaults/device")
        self.default_ignores = ConfigObject(self, "/rest/config/defaults/ignores")

    def get_config(self) -> dict:
        """The whole configuration."""
        return self._request("GET", "/rest/config")

    def put_config(self, config: dict) -> None:
        """Replace the whole configuration (applied at once where the daemon can)."""
        self._request("PUT", "/rest/config", config)

    def insync(self) -> bool:
        """False when the saved config differs from the running one (a restart is needed)."""
        return bool(self.get("insync").get("configInSync", False))

    def restart_required(self) -> bool:
        """True when a change waits for a restart."""
        return bool(self.get("restart-required").get("requiresRestart", False))
