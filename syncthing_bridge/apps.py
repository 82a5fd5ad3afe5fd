from django.apps import AppConfig


class SyncthingBridgeConfig(AppConfig):
    name = "syncthing_bridge"
    verbose_name = "Syncthing bridge"
