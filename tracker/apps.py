from django.apps import AppConfig


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = "Tracker"

    def ready(self) -> None:
        from tracker import schedules, signals  # noqa: F401 - connects the user node handlers

        schedules.register()
