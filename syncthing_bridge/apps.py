from django.apps import AppConfig


class SyncthingBridgeConfig(AppConfig):
    name = "syncthing_bridge"
    verbose_name = "Syncthing bridge"

    def ready(self) -> None:
        # offers the inventory cronjob in the hosts admin (registered through syncerapi.v1)
        from syncthing_bridge import schedules
        from syncthing_bridge.plugins import inventory  # noqa: F401

        schedules.register()
