"""`syncerapi.v1.core.app`: Django's app registry, plus what plugins reach for on Flask's app.

`app.get_app_config("hosts")`, `app.get_model(...)` and every other attribute are Django's
`django.apps.apps`; `app.cli` is the `manage.py syncer` click group and `app.config` the read-only
settings mapping (`app_config`).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as django_apps
from django.apps.registry import Apps

from hosts.cli import SyncerGroup, cli
from hosts.settings_view import SettingsView, app_config


class SyncerApp:
    """Delegates to Django's app registry; adds `cli` and `config`."""

    cli: SyncerGroup = cli
    config: SettingsView = app_config

    def __init__(self, registry: Apps) -> None:
        object.__setattr__(self, "_registry", registry)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("syncerapi.v1.core.app is read-only")

    def __repr__(self) -> str:
        return "<syncerapi app: Django's app registry with .cli and .config>"


app = SyncerApp(django_apps)
