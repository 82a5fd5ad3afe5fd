"""Settings of synctools, read at call time so tests and deployments can change them.

One prefix: `SYNCTOOL_` (the django-synctool spec's) is canonical for every setting. The `SYNCTOOLS_` names
that earlier releases read stay as aliases: the canonical name is read first, the alias only when the canonical
one is not set at all.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

PREFIX = "SYNCTOOL_"
ALIAS_PREFIX = "SYNCTOOLS_"


def setting(name: str, default: Any) -> Any:
    """`SYNCTOOL_<name>`, else its alias `SYNCTOOLS_<name>`, else `default`."""
    for prefix in (PREFIX, ALIAS_PREFIX):
        value = getattr(settings, prefix + name, None)
        if value is not None:
            return value
    return default


def api_token() -> str:
    """Token a Route demands when none is given to it (`SYNCTOOL_API_TOKEN`)."""
    return setting("API_TOKEN", "") or ""


def client_token() -> str:
    return setting("CLIENT_TOKEN", "") or ""


def client_endpoint() -> str:
    return setting("CLIENT_ENDPOINT", "") or ""


def client_media_url() -> str:
    return setting("CLIENT_MEDIA_URL", "") or ""


def route_modules() -> list[str]:
    """Modules that define Routes, imported at start-up so every process records changes of routed models."""
    return list(setting("ROUTE_MODULES", []))


def connect_timeout() -> float:
    return float(setting("CONNECT_TIMEOUT", 10))


def read_timeout() -> float:
    """Seconds the client waits for the next bytes of a reply (not for the whole reply)."""
    return float(setting("READ_TIMEOUT", 120))


def retries() -> int:
    """Retries of a request that failed before its body started (connection errors, 429/5xx)."""
    return int(setting("RETRIES", 3))


def batch_size() -> int:
    """Rows serialised and applied per step: bounds memory on both sides."""
    return int(setting("BATCH_SIZE", 1000))


def gzip_level() -> int:
    """zlib level for gzip replies; 1 is cheap on CPU and still shrinks JSON about fivefold."""
    return int(setting("GZIP_LEVEL", 1))


def cursor_overlap_seconds() -> float:
    """Changes recorded this long before a cursor are sent again, so a slow writer's late commit is not missed."""
    return float(setting("CURSOR_OVERLAP", 120))


def stale_run_seconds() -> float:
    """A run still "running" after this long, by a process this machine cannot see, is taken as abandoned."""
    return float(setting("STALE_RUN_SECONDS", 2 * 3600))
