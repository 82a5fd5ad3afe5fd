"""Schedulable tasks of the notifications app."""

from __future__ import annotations

from notifications import services


def flush() -> int:
    """Send the digests whose cool-down has passed; returns how many messages went out."""
    return services.flush()


def deliver(message: str, incident_pk: int, *args: str) -> int:
    """Send one incident's message ("tell" or "tell_recovered"), queued by the process that raised the event."""
    return services.deliver(message, incident_pk, *args)
