"""Tracker settings with their defaults; override any of them in Django settings."""

from __future__ import annotations

from django.conf import settings


def author_mode() -> bool:
    """Non-admins may only change (and see) nodes they authored."""
    return bool(getattr(settings, "TRACKER_AUTHOR_MODE", False))


def anonymous_read() -> bool:
    """Whether read and search routes answer without a token."""
    return bool(getattr(settings, "TRACKER_ANONYMOUS_READ", False))


def syncing_stale_seconds() -> int:
    """A claim (`syncing_<site>`) older than this is taken as abandoned and the file is offered again."""
    return int(getattr(settings, "TRACKER_SYNCING_STALE_SECONDS", 3600))


def retry_base_seconds() -> int:
    return int(getattr(settings, "TRACKER_RETRY_BASE_SECONDS", 30))


def retry_max_seconds() -> int:
    return int(getattr(settings, "TRACKER_RETRY_MAX_SECONDS", 3600))


def default_batch_size() -> int:
    """Work queue batch when the volume does not say (`syncAmountReception`)."""
    return int(getattr(settings, "TRACKER_DEFAULT_BATCH", 100))


def token_default_expiry_seconds() -> int:
    """Lifetime of a signIn token when the client does not send `expiresIn` (0 = never expires)."""
    return int(getattr(settings, "TRACKER_TOKEN_EXPIRY_SECONDS", 0))


def max_body_items() -> int:
    """Upper bound on the items of one multi-item call, so one request cannot exhaust the server."""
    return int(getattr(settings, "TRACKER_MAX_ITEMS", 10000))


def max_body_bytes() -> int:
    """Largest request body the damas routes read (a publish of 1,000 files is about 100 KB)."""
    return int(getattr(settings, "TRACKER_MAX_BODY_BYTES", 64 * 1024 * 1024))


def local_sites() -> list[str]:
    """Sites (volume names) this installation is the origin of: a replication pull never overwrites their files."""
    value = getattr(settings, "TRACKER_LOCAL_SITES", [])
    if isinstance(value, str):
        value = value.split(",")
    return [name.strip() for name in value if name and name.strip()]
