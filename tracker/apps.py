from django.apps import AppConfig


class TrackerConfig(AppConfig):
    name = "tracker"
    verbose_name = "Tracker"

    def ready(self) -> None:
        from syncsite import dashboard
        from tracker import schedules, services, signals  # noqa: F401 - signals connects the user node handlers

        dashboard.register("tracker", cards=services.dashboard_cards, sections=services.dashboard_sections)
        schedules.register()
        services.health.declare_events()
