"""A read-only mapping over Django settings (syncerapi.v1.core.app_config)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings


class SettingsView(Mapping):
    """`app_config["NAME"]` / `app_config.get("NAME", default)`; upper-case settings only, never writable."""

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or not key.isupper():
            raise KeyError(key)
        try:
            return getattr(settings, key)
        except AttributeError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(name for name in dir(settings) if name.isupper()))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return "<app_config: read-only view of Django settings>"


app_config = SettingsView()
