"""Settings of syncthing_bridge with their defaults; override any of them in Django settings."""

from __future__ import annotations

from django.conf import settings


def listener_poll_seconds() -> int:
    """How long the daemon holds an event poll open; also how often files waiting to be tracked are retried."""
    return int(getattr(settings, "SYNCTHING_LISTENER_POLL_SECONDS", 5))


def listener_min_backoff() -> float:
    """First wait before reconnecting to a daemon that went away (doubles up to the maximum)."""
    return float(getattr(settings, "SYNCTHING_LISTENER_MIN_BACKOFF", 1.0))


def listener_max_backoff() -> float:
    return float(getattr(settings, "SYNCTHING_LISTENER_MAX_BACKOFF", 60.0))


def unmatched_retry_seconds() -> int:
    """A file finished here but not (yet) in the tracker is retried this long (its origin may publish it late)."""
    return int(getattr(settings, "SYNCTHING_UNMATCHED_RETRY_SECONDS", 120))


def listen_task_seconds() -> int:
    """How long one run of the django-q2 listen task tails the daemons before returning."""
    return int(getattr(settings, "SYNCTHING_LISTEN_TASK_SECONDS", 55))


def rate_sample_seconds() -> float:
    """How often the listener reads a daemon's connection byte counters for the transfer rates it shows."""
    return float(getattr(settings, "SYNCTHING_RATE_SAMPLE_SECONDS", 2.0))
