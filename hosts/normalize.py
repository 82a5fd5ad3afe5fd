"""Normalisation of hostnames, label keys and label values: one definition used by every import path.

Bulk importers (services.import_rows) and the Host object API must agree, or change detection
would see differences where there are none.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import uuid
from collections.abc import Iterator
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


class Normaliser:
    """`normalize_hostname` and `normalize_labels` with the settings read once per run and label keys memoised.

    Same rules as the functions above (the tests compare both on the same inputs); a big import repeats the
    same few label keys on every row, and reading Django settings per call dominated the run time.
    """

    def __init__(self) -> None:
        self.lowercase = conf.lowercase_hostnames()
        self.pattern = conf.hostname_pattern()
        self.match = _hostname_regex(self.pattern).match
        self.replacers = conf.label_replacers()
        self.keys: dict[Any, str] = {}
        self.plans: dict[tuple[Any, ...], tuple[str, ...] | bool] = {}

    @property
    def rules(self) -> tuple[Any, ...]:
        """The settings this normaliser applies: rows normalised under other rules are normalised again."""
        return (self.lowercase, self.pattern, self.replacers)

    def hostname(self, hostname: Any) -> str | None:
        if hostname is None or isinstance(hostname, bool):
            return None
        name = str(hostname).strip()
        if self.lowercase:
            name = name.lower()
        if not name or not self.match(name):
            return None
        return name

    def labels(self, labels: dict[Any, Any]) -> dict[str, Any]:
        keys = tuple(labels)
        plan = self.plans.get(keys)
        if plan is None:
            plan = self.plans[keys] = self._plan(keys)
        if plan is not False:  # every key normalises to a distinct non-empty key: map the values only
            try:
                return dict(zip(plan, map(str.strip, labels.values()), strict=True))
            except TypeError:  # a value that is not a string
                pass
        return self._labels(labels)

    def all_labels(self, prepared: dict[str, dict[Any, Any]]) -> dict[str, dict[str, Any]]:
        """`labels()` of every host, with the memoised-plan case inlined (one method call per row is measurable)."""
        plans, strip, labels = self.plans, str.strip, self.labels
        result: dict[str, dict[str, Any]] = {}
        for name, raw in prepared.items():
            plan = plans.get(tuple(raw))
            if plan:
                try:
                    result[name] = dict(zip(plan, map(strip, raw.values()), strict=True))
                    continue
                except TypeError:  # a value that is not a string
                    pass
            result[name] = labels(raw)
        return result

    def columns(self, keys: list[Any]) -> tuple[list[int] | None, list[str]]:
        """For a table source, once per table: which label columns are kept (None: all) and their normal keys.

        Columns whose key normalises to "" are dropped; of columns with the same normal key the last one wins
        (a dict built from the pairs does that), as in `labels()`.
        """
        normal = [self._key(key) for key in keys]
        if all(normal):
            return None, normal
        kept = [index for index, key in enumerate(normal) if key]
        return kept, [normal[index] for index in kept]

    def _plan(self, keys: tuple[Any, ...]) -> tuple[str, ...] | bool:
        if len(self.plans) > 1000:  # rows with ever new key sets: stop memoising
            self.plans.clear()
        normalised = tuple(self._key(key) for key in keys)
        if not all(normalised) or len(set(normalised)) != len(normalised):
            return False
        return normalised

    def _key(self, key: Any) -> str:
        if key is None:
            return ""
        norm = self.keys.get(key)
        if norm is None:
            norm = self.keys[key] = normalize_key(key, self.replacers)
        return norm

    def _labels(self, labels: dict[Any, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in labels.items():
            norm = self._key(key)
            if norm:
                result[norm] = value.strip() if type(value) is str else normalize_value(value)
        return result


class NormalisedRows:
    """Rows a reader normalised while it read them (with a `Normaliser`), kept as hostname -> labels.

    Hostnames are normalised and valid ("" for rows without one, which the import skips), labels normalised,
    and of rows repeating a hostname the last one wins, as in `import_rows`. `import_rows` takes them as they
    are when its own rules are the same, instead of normalising every row of a big source a second time.
    `len()` is the number of rows read; iterating gives one (hostname, labels) pair per hostname.
    """

    def __init__(
        self,
        hosts: dict[str, dict[str, Any]],
        rows: int,
        first_empty: int,
        rules: tuple[Any, ...],
        duplicates: list[str] | None = None,
    ) -> None:
        self.hosts = hosts
        self.duplicates = duplicates or []  # hostnames that more than one row named (the last row won)
        self.rows = rows
        self.first_empty = first_empty  # the number (from 1) of the first row without a hostname, 0 if none
        self.rules = rules

    @property
    def repeated(self) -> int:
        """Rows that an earlier row of the same hostname (or of no hostname) already stands for."""
        return self.rows - len(self.hosts)

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(self.hosts.items())
