"""Settings of the hosts app, with defaults; override any of them in Django settings.

Read through functions (not module constants) so tests and `override_settings` see changes.
"""

from __future__ import annotations

from django.conf import settings

DEFAULT_LABEL_REPLACERS: tuple[tuple[str, str], ...] = ((" ", "_"),)


def label_replacers() -> tuple[tuple[str, str], ...]:
    """(needle, replacement) pairs applied to label keys after lowercasing (HOSTS_LABEL_REPLACERS)."""
    return tuple(tuple(pair) for pair in getattr(settings, "HOSTS_LABEL_REPLACERS", DEFAULT_LABEL_REPLACERS))


def lowercase_hostnames() -> bool:
    """Hostnames are stored lowercase unless HOSTS_LOWERCASE_HOSTNAMES is False."""
    return bool(getattr(settings, "HOSTS_LOWERCASE_HOSTNAMES", True))


def hostname_pattern() -> str:
    """What a valid hostname looks like after normalisation (HOSTS_HOSTNAME_PATTERN)."""
    return getattr(settings, "HOSTS_HOSTNAME_PATTERN", r"^[\w][\w.\-:@]{0,252}$")


def host_log_length() -> int:
    """How many entries a host's own log keeps, newest first (HOSTS_HOST_LOG_LENGTH)."""
    return int(getattr(settings, "HOSTS_HOST_LOG_LENGTH", 50))


def log_retention_days() -> int:
    """Run log entries older than this are purged by the scheduled task (HOSTS_LOG_RETENTION_DAYS)."""
    return int(getattr(settings, "HOSTS_LOG_RETENTION_DAYS", 30))


def http_timeout() -> float:
    """Default timeout in seconds of Plugin.inner_request; an account's request_timeout wins."""
    return float(getattr(settings, "HOSTS_HTTP_TIMEOUT", 30.0))


def http_max_retries() -> int:
    """Retries of Plugin.inner_request for connect errors and idempotent methods (HOSTS_HTTP_MAX_RETRIES)."""
    return int(getattr(settings, "HOSTS_HTTP_MAX_RETRIES", 3))


def http_backoff_factor() -> float:
    """urllib3 backoff factor between retries: sleeps factor * 2**(retry-1) seconds."""
    return float(getattr(settings, "HOSTS_HTTP_BACKOFF_FACTOR", 0.5))


def cache_flush_batch() -> int:
    """Attribute caches computed by a plugin are written in batches of this many hosts."""
    return int(getattr(settings, "HOSTS_CACHE_FLUSH_BATCH", 500))


def cronjob_lock_timeout() -> int:
    """Seconds after which a cronjob lock is considered abandoned (a crashed worker); defaults to Q timeout."""
    default = int(getattr(settings, "Q_CLUSTER", {}).get("timeout") or 3600)
    return int(getattr(settings, "HOSTS_CRONJOB_LOCK_TIMEOUT", default))


def plugin_modules() -> list[str]:
    """Extra plugin modules to import at startup (SYNCSITE_PLUGINS)."""
    return list(getattr(settings, "SYNCSITE_PLUGINS", []) or [])
