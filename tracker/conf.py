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
    """Lifetime of a signIn token when the client does not send `expiresIn` (0 = never expires); damas: one day."""
    return int(getattr(settings, "TRACKER_TOKEN_EXPIRY_SECONDS", 24 * 3600))


def script_token_expiry_seconds() -> int:
    """Lifetime of a `createToken` token when the client does not send `expiresIn` (0 = never expires)."""
    return int(getattr(settings, "TRACKER_SCRIPT_TOKEN_EXPIRY_SECONDS", 365 * 24 * 3600))


def password_reset_interval_seconds() -> int:
    """Least time between two reset mails to one user, so a guest cannot flood an inbox through lostPassword."""
    return int(getattr(settings, "TRACKER_PASSWORD_RESET_INTERVAL_SECONDS", 300))


def file_volume() -> str:
    """The site (volume name) whose folder `/api/file/` serves and `/api/upload` writes into; "" = none."""
    return str(getattr(settings, "TRACKER_FILE_VOLUME", "") or "")


def max_upload_bytes() -> int:
    """Largest file `/api/upload` accepts."""
    return int(getattr(settings, "TRACKER_MAX_UPLOAD_BYTES", 1024 * 1024 * 1024))


def max_body_items() -> int:
    """Upper bound on the items of one multi-item call, so one request cannot exhaust the server."""
    return int(getattr(settings, "TRACKER_MAX_ITEMS", 10000))


def max_body_bytes() -> int:
    """Largest request body the damas routes read (a publish of 1,000 files is about 100 KB)."""
    return int(getattr(settings, "TRACKER_MAX_BODY_BYTES", 16 * 1024 * 1024))


# Bounds on the work of one damas request (tracker.limits); each is checked before any query runs.


def max_node_bytes() -> int:
    """Largest node: the size of its keys encoded as compact UTF-8 JSON."""
    return int(getattr(settings, "TRACKER_MAX_NODE_BYTES", 1024 * 1024))


def max_json_values() -> int:
    """Most JSON values (array elements, object members) one body may hold: bounds the memory of parsing it."""
    return int(getattr(settings, "TRACKER_MAX_JSON_VALUES", 1_000_000))


def max_json_depth() -> int:
    """Deepest nesting of arrays and objects in a body; deeper input never reaches a recursive walker."""
    return int(getattr(settings, "TRACKER_MAX_JSON_DEPTH", 64))


def max_query_terms() -> int:
    """Most terms of one `$or`/`$and`/`$nor`/`$in`/`$nin` list, and of one text search."""
    return int(getattr(settings, "TRACKER_MAX_QUERY_TERMS", 100))


def max_query_nodes() -> int:
    """Most values (keys, operators, list items) in one search_mongo query."""
    return int(getattr(settings, "TRACKER_MAX_QUERY_NODES", 500))


def max_query_conditions() -> int:
    """Most reads of a node's JSON in one compiled query (PostgreSQL may keep a copy of the row's data for each)."""
    return int(getattr(settings, "TRACKER_MAX_QUERY_CONDITIONS", 128))


def max_query_depth() -> int:
    """Deepest nesting of a search_mongo query (objects and lists)."""
    return int(getattr(settings, "TRACKER_MAX_QUERY_DEPTH", 16))


def max_regex_length() -> int:
    """Longest regular expression of a search."""
    return int(getattr(settings, "TRACKER_MAX_REGEX_LENGTH", 512))


def max_page_size() -> int:
    """Most ids one search answers (search_mongo pages are cut to it, its `count` says how many match)."""
    return int(getattr(settings, "TRACKER_MAX_PAGE_SIZE", 100_000))


def max_response_bytes() -> int:
    """Most node bytes one read or graph answer loads."""
    return int(getattr(settings, "TRACKER_MAX_RESPONSE_BYTES", 64 * 1024 * 1024))


def statement_timeout_ms() -> int:
    """Time limit of each damas request's database work, in milliseconds (0 = none)."""
    return int(getattr(settings, "TRACKER_STATEMENT_TIMEOUT_MS", 10_000))


def local_sites() -> list[str]:
    """Sites (volume names) this installation is the origin of: a replication pull never overwrites their files."""
    value = getattr(settings, "TRACKER_LOCAL_SITES", [])
    if isinstance(value, str):
        value = value.split(",")
    return [name.strip() for name in value if name and name.strip()]
