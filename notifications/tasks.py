"""Schedulable tasks of the notifications app."""

from __future__ import annotations

from notifications import services


def flush() -> int:
    """Send the digests whose cool-down has passed; returns how many messages went out."""
    return services.flush()
