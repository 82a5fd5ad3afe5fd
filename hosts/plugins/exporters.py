"""CSV and JSON exports of (hostname, attributes) pairs, streamed to a text file object."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from typing import Any, TextIO


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, default=str)


def write_csv(
    hosts: Iterable[tuple[str, Mapping[str, Any]]],
    stream: TextIO,
    *,
    hostname_column: str = "host",
    delimiter: str = ",",
    columns: list[str] | None = None,
) -> int:
    """Write a header (hostname column, then every attribute key sorted) and one row per host.

    The columns must be known before the first row, so the hosts are materialised once; non-string
    values are written as JSON. `import-csv` reads the file back. Returns the number of rows.
    """
    hosts = list(hosts)
    if columns is None:
        keys: set[str] = set()
        for _, attributes in hosts:
            keys.update(attributes)
        keys.discard(hostname_column)
        columns = sorted(keys)
    writer = csv.writer(stream, delimiter=delimiter, lineterminator="\n")
    writer.writerow([hostname_column, *columns])
    for hostname, attributes in hosts:
        writer.writerow([hostname, *(_cell(attributes.get(key)) for key in columns)])
    return len(hosts)


def write_json(hosts: Iterable[tuple[str, Mapping[str, Any]]], stream: TextIO, *, indent: int | None = 2) -> int:
    """Write `[{"hostname": ..., "attributes": {...}}, ...]`, one host at a time.

    `import-json --labels-key attributes` reads the file back. Returns the number of hosts.
    """
    count = 0
    stream.write("[")
    for hostname, attributes in hosts:
        stream.write("," if count else "")
        stream.write("\n" if indent else "")
        stream.write(json.dumps({"hostname": hostname, "attributes": dict(attributes)}, indent=indent, default=str))
        count += 1
    stream.write("\n]\n" if indent else "]\n")
    return count
