"""``/rest/folder``: folder errors and file versions."""

from __future__ import annotations

from syncthing_bridge.client.base import BaseAPI


class Folder(BaseAPI):
    """``/rest/folder``: per-folder errors and file versions."""

    prefix = "/rest/folder/"

    def errors(self, folder: str, page: int | None = None, perpage: int | None = None) -> dict:
        """{"folder", "errors": [{"path", "error"}], "page", "perpage"}: files that failed to sync."""
        return self.get("errors", params={"folder": folder, "page": page, "perpage": perpage})

    def versions(self, folder: str) -> dict:
        """{path: [{"versionTime", "modTime", "size"}]}: archived versions kept by the folder's versioning."""
        return self.get("versions", params={"folder": folder})

    def restore(self, folder: str, versions: dict[str, str]) -> dict:
        """Restore {path: versionTime}; returns {path: error} for the ones that failed."""
        return self.post("versions", params={"folder": folder}, data=versions)
