"""The hosts one source record stands for, and which records an account takes (syncerapi.v1).

Every importer turns a record into hosts the same way: the hostname the source delivers runs once
through the account's `rewrite_hostname` Jinja template (variables: the record's fields and
`HOSTNAME`). Usually that gives one name; a template that renders a list literal, such as
`{{ [HOSTNAME, HOSTNAME | replace('HVL01', 'RTR01')] }}`, names several hosts, each imported with
the whole record. Brackets and quotes are never part of a valid hostname, so a plain name can never
be read as a list by accident.

`import_filter` (an account field) says which records to take: comma-separated `key:value` terms;
a record is taken when, for every key named, its value is one of the values given for that key (a
value ending in `*` is a prefix; case is ignored). A term without `:` is a hostname prefix.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from hosts.jinja import template_renderer
from hosts.normalize import Normaliser, normalize_hostname


def parse_hostname_list(rendered: Any) -> list[str] | None:
    """The names a rendered template lists (`['a', 'b']`), in order without repeats; None when no list."""
    if not isinstance(rendered, str):
        return None
    text = rendered.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    if not isinstance(parsed, list):
        return None
    names: list[str] = []
    seen: set[str] = set()
    for entry in parsed:
        if isinstance(entry, bool) or not isinstance(entry, str | int):
            continue
        name = normalize_hostname(str(entry))
        if name and name not in seen:
            seen.add(name)
            names.append(name)
    return names


def hostnames_rewriter(config: Mapping[str, Any] | None) -> Callable[[Any, Mapping[str, Any] | None], list[str]]:
    """`import_hostnames` for one account as a function of (hostname, attributes), for a whole run.

    The template is compiled and the hostname settings are read once, not per record.
    """
    template = (config or {}).get("rewrite_hostname")
    normalise = Normaliser().hostname
    if not template or not isinstance(template, str):

        def plain(hostname: Any, attributes: Mapping[str, Any] | None) -> list[str]:
            name = normalise(hostname)
            return [name] if name else []

        return plain
    render = template_renderer(template)

    def rewrite(hostname: Any, attributes: Mapping[str, Any] | None) -> list[str]:
        rendered = render({**attributes, "HOSTNAME": hostname} if attributes else {"HOSTNAME": hostname})
        names = parse_hostname_list(rendered)
        if names is not None:
            return names
        name = normalise(rendered)
        return [name] if name else []

    return rewrite


def import_hostnames(
    hostname: Any, config: Mapping[str, Any] | None, attributes: Mapping[str, Any] | None
) -> list[str]:
    """The normalised names one record is imported under: [] when the name is invalid or the list empty."""
    return hostnames_rewriter(config)(hostname, attributes)


def get_import_hosts(
    hostname: Any,
    config: Mapping[str, Any] | None,
    attributes: Mapping[str, Any] | None = None,
    create: bool = True,
) -> list[tuple[str, Any]]:
    """The hosts one record is imported into, as (hostname, host) pairs (`Host.get_host` for each name).

    With `create=False` a missing host is `False`, as `Host.get_host` gives it.
    """
    from hosts.models import Host

    return [(name, Host.get_host(name, create=create)) for name in import_hostnames(hostname, config, attributes)]


def update_import_host(host: Any, labels: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Write a record's labels to one of its hosts for the account; saved (True) only when the account may own it."""
    if not host.set_account(account_dict=dict(config)):
        return False
    host.update_host(dict(labels))
    host.save()
    return True


def parse_import_filter(text: Any) -> tuple[list[str], dict[str, list[str]]]:
    """(hostname prefixes, {key: values}) of an `import_filter` text, lowercased."""
    prefixes: list[str] = []
    terms: dict[str, list[str]] = {}
    for part in str(text or "").split(","):
        part = part.strip()
        if not part:
            continue
        if ":" in part:
            key, value = part.split(":", 1)
            terms.setdefault(key.strip().lower(), []).append(value.strip().lower())
        else:
            prefixes.append(part.lower())
    return prefixes, terms


def _value_matches(value: Any, wanted: list[str]) -> bool:
    values = value if isinstance(value, list | tuple | set) else [value]
    for item in values:
        text = "" if item is None else str(item).strip().lower()
        for needle in wanted:
            if (needle.endswith("*") and text.startswith(needle[:-1])) or text == needle:
                return True
    return False


def record_filter(config: Mapping[str, Any] | None) -> Callable[[Any, Mapping[str, Any] | None], bool] | None:
    """`record_wanted` for one account as a function of (hostname, attributes); None when it takes every record.

    The filter text is parsed once per run, not per record.
    """
    prefixes, terms = parse_import_filter((config or {}).get("import_filter"))
    if not prefixes and not terms:
        return None
    starts = tuple(prefixes)

    def wanted(hostname: Any, attributes: Mapping[str, Any] | None) -> bool:
        if starts and not str(hostname or "").strip().lower().startswith(starts):
            return False
        lowered = {str(key).strip().lower(): value for key, value in (attributes or {}).items()}
        return all(key in lowered and _value_matches(lowered[key], values) for key, values in terms.items())

    return wanted


def record_wanted(config: Mapping[str, Any] | None, hostname: Any, attributes: Mapping[str, Any] | None) -> bool:
    """Whether the account's `import_filter` takes this record (always, without a filter)."""
    wanted = record_filter(config)
    return wanted is None or wanted(hostname, attributes)


def apply_account_rules(
    rows: list[tuple[str, dict[str, Any]]], config: Mapping[str, Any] | None
) -> tuple[list[tuple[str, dict[str, Any]]], int]:
    """The rows after the account's `import_filter` and `rewrite_hostname`, and how many were filtered out.

    A row is dropped when the filter refuses it, and becomes one row per name its rewrite gives.
    Rows come back untouched (the same list) when the account sets neither option.
    """
    config = config or {}
    if not config.get("import_filter") and not config.get("rewrite_hostname"):
        return rows, 0
    wanted = record_filter(config)
    rewrite = hostnames_rewriter(config) if config.get("rewrite_hostname") else None
    result: list[tuple[str, dict[str, Any]]] = []
    dropped = 0
    for hostname, labels in rows:
        if wanted is not None and not wanted(hostname, labels):
            dropped += 1
            continue
        if rewrite is None:
            result.append((hostname, labels))
            continue
        names = rewrite(hostname, labels)
        if len(names) == 1:
            result.append((names[0], labels))
        else:
            result.extend((name, labels) for name in names)
    return result, dropped
