from django.apps import AppConfig


class TestappConfig(AppConfig):
    name = "tests.synctools.testapp"
    label = "synctools_testapp"
    default_auto_field = "django.db.models.BigAutoField"
