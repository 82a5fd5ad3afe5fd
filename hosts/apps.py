from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"
    verbose_name = "Hosts"
    #: The built-in import/export plugins (a layer above syncerapi.v1): loaded with every app's declared plugins.
    syncer_plugins = (
        "hosts.plugins.accounts",
        "hosts.plugins.exports",
        "hosts.plugins.importers",
        "hosts.plugins.rest",
        "hosts.plugins.sql",
        "hosts.plugins.ldap",
        "hosts.plugins.checkmk",
        "hosts.plugins.netbox",
    )

    def ready(self) -> None:
        from hosts import builtin_commands, discovery, schedules, services, signals, tasks  # noqa: F401 - they register built-ins
        from syncsite import dashboard

        schedules.register()

        dashboard.register("hosts", cards=services.dashboard_cards, sections=services.dashboard_sections)
        signals.connect()
        discovery.discover_plugins(strict=False)
