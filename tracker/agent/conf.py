"""Agent settings: defaults here, overridable in Django settings."""

from __future__ import annotations

from django.conf import settings


def rsync_binary() -> str:
    return getattr(settings, "TRACKER_RSYNC_BINARY", "rsync")


def rsync_io_timeout() -> int:
    """rsync's own --timeout: a stalled transfer fails instead of hanging the agent forever."""
    return int(getattr(settings, "TRACKER_RSYNC_IO_TIMEOUT", 600))


def partial_dir() -> str:
    """Where rsync keeps interrupted transfers (relative: one per destination folder), never the final name."""
    return getattr(settings, "TRACKER_RSYNC_PARTIAL_DIR", ".syncsite-partial")


def scan_author() -> str:
    """The spec says files found by a scan are authored by `support`."""
    return getattr(settings, "TRACKER_SCAN_AUTHOR", "support")


def poll_seconds() -> float:
    """Pause of the long-running agent when a round found nothing to do."""
    return float(getattr(settings, "TRACKER_AGENT_POLL_SECONDS", 10))


def publish_chunk() -> int:
    """How many discovered files one publish_many call carries."""
    return int(getattr(settings, "TRACKER_SCAN_PUBLISH_CHUNK", 1000))
