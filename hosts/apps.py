from django.apps import AppConfig


class HostsConfig(AppConfig):
    name = "hosts"
    verbose_name = "Hosts"

    def ready(self) -> None:
        from hosts import discovery, signals, tasks  # noqa: F401 - tasks registers the built-in cronjobs

        signals.connect()
        discovery.discover_plugins()
