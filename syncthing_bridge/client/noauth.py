"""``/rest/noauth``: calls that need no API key."""

from __future__ import annotations

from syncthing_bridge.client.base import BaseAPI


class NoAuth(BaseAPI):
    """``/rest/noauth``: calls that need no API key (Syncthing >= 1.21 for health)."""

    prefix = "/rest/noauth/"

    def health(self) -> dict:
        """{"status": "OK"} when the daemon is up."""
        return self.get("health")
