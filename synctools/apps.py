from django.apps import AppConfig


class SynctoolsConfig(AppConfig):
    name = "synctools"
    verbose_name = "Sync tools"
