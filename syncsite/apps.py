from django.apps import AppConfig


class SyncsiteConfig(AppConfig):
    """The site's own app: it wires in synctools, which knows only Django and so cannot register itself."""

    name = "syncsite"
    verbose_name = "Syncsite"

    def ready(self) -> None:
        from syncsite import dashboard
        from synctools import services as synctools_services

        dashboard.register(
            "synctools", cards=synctools_services.dashboard_cards, sections=synctools_services.dashboard_sections
        )
