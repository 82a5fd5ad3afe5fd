from importlib import import_module

from django.apps import AppConfig


class SynctoolsConfig(AppConfig):
    name = "synctools"
    verbose_name = "Sync tools"

    def ready(self) -> None:
        """Import the modules that define Routes, so every process (web, workers, commands) records changes."""
        from synctools import conf

        for module in conf.route_modules():
            import_module(module)
