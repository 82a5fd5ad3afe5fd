"""Normalisation of hostnames, label keys and label values: one definition used by every import path.

Bulk importers (services.import_rows) and the Host object API must agree, or change detection
would see differences where there are none.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from functools import lru_cache
from typing import Any

from hosts import conf


@lru_cache(maxsize=8)
def _hostname_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def normalize_hostname(hostname: Any) -> str | None:
    """The stored form of a hostname, or None when it is empty or not a valid name."""
    if hostname is None or isinstance(hostname, bool):
        return None
    name = str(hostname).strip()
    if conf.lowercase_hostnames():
        name = name.lower()
    if not name or not _hostname_regex(conf.hostname_pattern()).match(name):
        return None
    return name


def normalize_key(key: Any, replacers: tuple[tuple[str, str], ...] | None = None) -> str:
    """Label keys are lowercase, stripped, with the configured replacers applied (e.g. ' ' -> '_')."""
    text = str(key).strip().lower()
    for needle, replacement in conf.label_replacers() if replacers is None else replacers:
        text = text.replace(needle, replacement)
    return text.strip()


def normalize_value(value: Any) -> Any:
    """JSON-safe label value: strings are stripped, scalars kept, other types turned into text."""
    if isinstance(value, str):
        return value.strip()
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [normalize_value(item) for item in value]
    if isinstance(value, dict):
        return {str(k): normalize_value(v) for k, v in value.items()}
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return str(value)


def normalize_labels(labels: dict[Any, Any]) -> dict[str, Any]:
    """Labels as stored: normalised keys (empty keys dropped; the last duplicate wins) and values."""
    replacers = conf.label_replacers()
    result: dict[str, Any] = {}
    for key, value in labels.items():
        if key is None:
            continue
        norm = normalize_key(key, replacers)
        if norm:
            result[norm] = normalize_value(value)
    return result
