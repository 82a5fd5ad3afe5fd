"""Settings of synctools, read at call time so tests and deployments can change them."""

from __future__ import annotations

from django.conf import settings


def api_token() -> str:
    """Token a Route demands when none is given to it (`SYNCTOOL_API_TOKEN`)."""
    return getattr(settings, "SYNCTOOL_API_TOKEN", "") or ""


def client_token() -> str:
    return getattr(settings, "SYNCTOOL_CLIENT_TOKEN", "") or ""


def client_endpoint() -> str:
    return getattr(settings, "SYNCTOOL_CLIENT_ENDPOINT", "") or ""


def client_media_url() -> str:
    return getattr(settings, "SYNCTOOL_CLIENT_MEDIA_URL", "") or ""


def route_modules() -> list[str]:
    """Modules that define Routes, imported at start-up so every process records changes of routed models."""
    return list(getattr(settings, "SYNCTOOLS_ROUTE_MODULES", []))


def connect_timeout() -> float:
    return float(getattr(settings, "SYNCTOOLS_CONNECT_TIMEOUT", 10))


def read_timeout() -> float:
    """Seconds the client waits for the next bytes of a reply (not for the whole reply)."""
    return float(getattr(settings, "SYNCTOOLS_READ_TIMEOUT", 120))


def retries() -> int:
    """Retries of a request that failed before its body started (connection errors, 429/5xx)."""
    return int(getattr(settings, "SYNCTOOLS_RETRIES", 3))


def batch_size() -> int:
    """Rows serialised and applied per step: bounds memory on both sides."""
    return int(getattr(settings, "SYNCTOOLS_BATCH_SIZE", 1000))


def gzip_level() -> int:
    """zlib level for gzip replies; 1 is cheap on CPU and still shrinks JSON about fivefold."""
    return int(getattr(settings, "SYNCTOOLS_GZIP_LEVEL", 1))


def cursor_overlap_seconds() -> float:
    """Changes recorded this long before a cursor are sent again, so a slow writer's late commit is not missed."""
    return float(getattr(settings, "SYNCTOOLS_CURSOR_OVERLAP", 120))


def stale_run_seconds() -> float:
    """A run still "running" after this long, by a process this machine cannot see, is taken as abandoned."""
    return float(getattr(settings, "SYNCTOOLS_STALE_RUN_SECONDS", 2 * 3600))
