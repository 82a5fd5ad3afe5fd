"""``/rest/stats``: per device and per folder statistics."""

from __future__ import annotations

from syncthing_bridge.client.base import BaseAPI


class Statistics(BaseAPI):
    """HTTP REST endpoint for Statistic calls."""

    prefix = "/rest/stats/"

    def device(self) -> dict:
        """Returns general statistics about devices (last seen, last connection duration)."""
        return self.get("device")

    def folder(self) -> dict:
        """Returns general statistics about folders (last scan time, last synced file)."""
        return self.get("folder")
