"""Inventory plugin: each Syncthing instance is a host whose inventory section `syncthing` holds its version,
uptime, connected devices and folder states. Uses only syncerapi.v1 (and this app's services).
"""

from __future__ import annotations

from syncerapi.v1 import Host, register_cronjob
from syncerapi.v1.core import Plugin
from syncthing_bridge import services

INVENTORY_KEY = "syncthing"


class SyncthingInventory(Plugin):
    name = "Syncthing inventory"
    source = "syncthing_inventory"

    def run(self, refresh: bool = True) -> dict:
        """Refresh the instances (unless told not to), then write one host per instance."""
        if refresh:
            services.refresh_all()
        stats = {"created": 0, "updated": 0, "unchanged": 0, "invalid": []}
        for name, data in services.inventory_objects():
            host = Host.get_host(name)
            if host is False:
                stats["invalid"].append(name)
                continue
            created = host.pk is None
            changed = host.update_inventory(INVENTORY_KEY, data)
            if created or changed:
                host.save()
                stats["created" if created else "updated"] += 1
            else:
                stats["unchanged"] += 1
        self.log_details.extend((key, value) for key, value in stats.items())
        if stats["invalid"]:
            self.log_details.append(("error", f"invalid host names: {', '.join(stats['invalid'])}"))
        return stats


def syncthing_inventory(account: str | None = None) -> dict:
    """The cronjob: refresh every enabled instance and store its status in the host inventory."""
    plugin = SyncthingInventory()
    try:
        return plugin.run()
    finally:
        plugin.close()


register_cronjob("syncthing_inventory", syncthing_inventory)
