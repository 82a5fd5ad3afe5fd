"""syncerapi.v1: re-exports of the hosts app's public API for plugin authors (no logic here)."""

__all__: list[str] = []
