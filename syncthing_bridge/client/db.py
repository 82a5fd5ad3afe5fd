"""``/rest/db``: the database of files per folder (completion, need, scan, ignores...)."""

from __future__ import annotations

from syncthing_bridge.client.base import BaseAPI


class Database(BaseAPI):
    """HTTP REST endpoint for Database calls."""

    prefix = "/rest/db/"

    def browse(self, folder: str, levels: int | None = None, prefix: str | None = None) -> dict:
        """Returns the directory tree of the global model."""
        assert isinstance(levels, int) or levels is None
        assert isinstance(prefix, str) or prefix is None
        return self.get("browse", params={"folder": folder, "levels": levels, "prefix": prefix})

    def completion(self, device: str, folder: str) -> int:
        """Returns the completion percentage (0 to 100) for a given device and folder."""
        return self.get("completion", params={"folder": folder, "device": device}).get("completion")

    def completion_details(self, folder: str | None = None, device: str | None = None) -> dict:
        """The whole completion answer: completion, needBytes, needItems, globalBytes, needDeletes, ..."""
        return self.get("completion", params={"folder": folder, "device": device})

    def file(self, folder: str, file_: str) -> dict:
        """Returns most data available about a given file, including version and availability."""
        return self.get("file", params={"folder": folder, "file": file_})

    def ignores(self, folder: str) -> dict:
        """Returns the content of the .stignore as ``ignore`` and the expanded globs as ``expanded``."""
        return self.get("ignores", params={"folder": folder})

    def set_ignores(self, folder: str, *patterns: str) -> dict:
        """Applies patterns to folder's .stignore file."""
        if not patterns:
            return {}
        return self.post("ignores", params={"folder": folder}, data={"ignore": list(patterns)})

    def need(self, folder: str, page: int | None = None, perpage: int | None = None) -> dict:
        """Returns lists of files which are needed by this device in order for it to become in sync."""
        assert isinstance(page, int) or page is None
        assert isinstance(perpage, int) or perpage is None
        return self.get("need", params={"folder": folder, "page": page, "perpage": perpage})

    def override(self, folder: str) -> dict:
        """Request override of a send-only folder."""
        return self.post("override", params={"folder": folder}) or {}

    def prio(self, folder: str, file_: str) -> dict:
        """Moves the file to the top of the download queue."""
        return self.post("prio", params={"folder": folder, "file": file_}) or {}

    def scan(self, folder: str, sub: str | None = None, next_: int | None = None) -> str:
        """Request immediate rescan of a folder, or a specific path within a folder."""
        if not sub:
            sub = ""
        assert isinstance(sub, str)
        assert isinstance(next_, int) or next_ is None
        return self.post("scan", params={"folder": folder, "sub": sub, "next": next_})

    def status(self, folder: str) -> dict:
        """Returns information about the current status of a folder (expensive on the daemon)."""
        return self.get("status", params={"folder": folder})

    # -- not in python-syncthing --------------------------------------------------------------------------------

    def remoteneed(self, folder: str, device: str, page: int | None = None, perpage: int | None = None) -> dict:
        """Files ``device`` still needs from this folder (as this daemon knows it)."""
        return self.get("remoteneed", params={"folder": folder, "device": device, "page": page, "perpage": perpage})

    def localchanged(self, folder: str, page: int | None = None, perpage: int | None = None) -> dict:
        """Files changed locally in a receive-only folder."""
        return self.get("localchanged", params={"folder": folder, "page": page, "perpage": perpage})

    def revert(self, folder: str) -> None:
        """Revert local changes of a receive-only folder to the global state."""
        self.post("revert", params={"folder": folder})
