from django.apps import AppConfig


class SyncthingBridgeConfig(AppConfig):
    name = "syncthing_bridge"
    verbose_name = "Syncthing bridge"
    #: Its hosts plugin (the inventory cronjob, written against syncerapi.v1), loaded by the hosts plugin loader.
    syncer_plugins = ("syncthing_bridge.plugins.inventory",)

    def ready(self) -> None:
        from syncsite import dashboard
        from syncthing_bridge import schedules, services

        dashboard.register("syncthing_bridge", cards=services.dashboard_cards, sections=services.dashboard_sections)
        schedules.register()
        services.register_tracker_columns()
        from syncthing_bridge import alerts

        alerts.declare_events()
