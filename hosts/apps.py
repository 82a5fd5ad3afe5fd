from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"
    verbose_name = "Hosts"

    def ready(self) -> None:
        from hosts import builtin_commands, discovery, schedules, signals, tasks  # noqa: F401 - they register built-ins

        schedules.register()

        signals.connect()
        discovery.discover_plugins()
