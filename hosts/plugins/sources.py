"""Readers for import sources: CSV, JSON (file or HTTP response) and YAML group files.

Every reader returns `(hostname, labels)` pairs and raises `SourceError` with a message that names the
file (or URL), the line or item and what was expected, so an operator can fix the source without a
debugger. Readers never touch the database: an import validates the whole source before it writes.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from syncerapi.v1 import redact_url
from syncerapi.v1.importing import NormalisedRows, Normaliser, normalize_hostname

Row = tuple[str, dict[str, Any]]


class SourceError(ValueError):
    """An import source cannot be used as it is; the message says where and why."""


def check_hostname(value: Any, where: str) -> str:
    """The stripped hostname, "" for an empty cell (skipped by the import), SourceError when invalid."""
    if value is None:
        return ""
    if not isinstance(value, str | int):
        raise SourceError(f"{where}: hostname must be a string, got {type(value).__name__}")
    name = str(value).strip()
    if name and normalize_hostname(name) is None:
        raise invalid_hostname(name, where)  # checked as the import will see it, returned as it is
    return name


def invalid_hostname(name: str, where: str) -> SourceError:
    return SourceError(
        f"{where}: invalid hostname {name!r} (allowed by default: letters, digits, '_', '.', '-', ':', '@'; "
        "at most 253 characters, no spaces)"
    )


def _read_text(path: str | Path, encoding: str) -> str:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise SourceError(f"{path}: file not found") from exc
    except IsADirectoryError as exc:
        raise SourceError(f"{path}: is a directory, expected a file") from exc
    except PermissionError as exc:
        raise SourceError(f"{path}: permission denied") from exc
    try:
        text = raw.decode(encoding)
    except LookupError as exc:
        raise SourceError(f"{path}: unknown encoding {encoding!r}") from exc
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SourceError(
            f"{path} line {line}: not valid {encoding} text (byte {exc.start}: {exc.reason}); "
            "set the encoding of the source"
        ) from exc
    return text.removeprefix("\ufeff")


# --- CSV -------------------------------------------------------------------------------------------------


def read_csv(
    path: str | Path,
    *,
    delimiter: str = ",",
    hostname_column: str = "host",
    encoding: str = "utf-8",
    normalise: bool = False,
) -> list[Row] | NormalisedRows:
    """Rows of a CSV file with a header; every column but the hostname column becomes a label.

    With `normalise` the rows come out as `NormalisedRows`, already in the form a host import stores (the
    header's keys normalised once for the whole file): a big import then makes one pass over its rows, not
    one here and another in `import_rows`. Without it, cells are kept as they are (inventory imports).
    """
    if len(delimiter) != 1:
        raise SourceError(f"the CSV delimiter must be one character, got {delimiter!r}")
    text = _read_text(path, encoding)
    reader = csv.reader(text.splitlines(keepends=True), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise SourceError(f"{path}: empty file, expected a header row with the column {hostname_column!r}")
        header = [cell.strip() for cell in header]
        if hostname_column not in header:
            raise SourceError(
                f"{path}: no hostname column {hostname_column!r} in the header "
                f"(columns: {', '.join(header)}; delimiter {delimiter!r}); set the hostname column or delimiter"
            )
        duplicates = sorted({cell for cell in header if header.count(cell) > 1})
        if duplicates:
            raise SourceError(f"{path} line 1: duplicate column(s) {', '.join(duplicates)}")
        table = _CsvTable(path, reader, header, hostname_column)
        return table.normalised_rows() if normalise else table.rows()
    except csv.Error as exc:
        raise SourceError(f"{path} line {reader.line_num}: malformed CSV: {exc}") from exc


class _CsvTable:
    """The data rows of a CSV reader past its header. The loops run once per row of big imports: no per-row
    string formatting unless something is wrong."""

    def __init__(self, path: str | Path, reader: Any, header: list[str], hostname_column: str) -> None:
        self.path, self.reader, self.hostname_column = path, reader, hostname_column
        self.width = len(header)
        self.host_index = header.index(hostname_column)
        self.label_keys = header[: self.host_index] + header[self.host_index + 1 :]

    def _blank_line(self, cells: list[str]) -> bool:
        """True for a blank line; SourceError for any other row that does not have the header's width."""
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            return True
        raise SourceError(f"{self.path} line {self.reader.line_num}: {len(cells)} fields, the header has {self.width}")

    def _invalid(self, cells: list[str]) -> SourceError:
        where = f"{self.path} line {self.reader.line_num} column {self.hostname_column!r}"
        return invalid_hostname(cells[self.host_index].strip(), where)

    def rows(self) -> list[Row]:
        width, host_index, keys = self.width, self.host_index, self.label_keys
        normaliser = Normaliser()  # hostnames are checked as the import will see them, but kept as they are
        rows: list[Row] = []
        for cells in self.reader:
            if len(cells) != width and self._blank_line(cells):
                continue
            hostname = cells[host_index].strip()
            if hostname and normaliser.hostname(hostname) is None:
                raise self._invalid(cells)
            del cells[host_index]
            rows.append((hostname, dict(zip(keys, cells, strict=True))))
        return rows

    def normalised_rows(self) -> NormalisedRows:
        normaliser = Normaliser()
        kept, keys = normaliser.columns(self.label_keys)
        lowercase, match, strip = normaliser.lowercase, normaliser.match, str.strip
        width, host_index = self.width, self.host_index
        hosts: dict[str, dict[str, Any]] = {}
        count = first_empty = 0
        duplicates: list[str] = []
        for cells in self.reader:
            if len(cells) != width and self._blank_line(cells):
                continue
            count += 1
            hostname = cells[host_index].strip()
            if lowercase:
                hostname = hostname.lower()
            if not hostname:
                first_empty = first_empty or count
            elif not match(hostname):
                raise self._invalid(cells)
            del cells[host_index]
            if kept is not None:
                cells = [cells[index] for index in kept]
            if hostname in hosts and hostname:
                duplicates.append(hostname)
            hosts[hostname] = dict(zip(keys, map(strip, cells), strict=True))
        return NormalisedRows(hosts, count, first_empty, normaliser.rules, duplicates)


# --- JSON ------------------------------------------------------------------------------------------------


def follow_data_key(document: Any, data_key: str | None, where: str) -> Any:
    """The part of `document` at a dotted path like `result.hosts` (list items by index: `items.0`)."""
    if not data_key:
        return document
    current = document
    walked: list[str] = []
    for part in data_key.split("."):
        here = ".".join(walked) or "the top level"
        if isinstance(current, Mapping):
            if part not in current:
                keys = ", ".join(sorted(map(str, current))[:20]) or "none"
                raise SourceError(f"{where}: data_key {data_key!r} not found: no key {part!r} at {here} (keys: {keys})")
            current = current[part]
        elif isinstance(current, list) and part.isdigit():
            if int(part) >= len(current):
                raise SourceError(f"{where}: data_key {data_key!r}: index {part} out of range at {here}")
            current = current[int(part)]
        else:
            raise SourceError(
                f"{where}: data_key {data_key!r} not found: {here} is a {type(current).__name__}, not an object"
            )
        walked.append(part)
    return current


def rows_from_document(
    document: Any,
    where: str,
    *,
    hostname_key: str = "hostname",
    data_key: str | None = None,
    labels_key: str | None = None,
) -> list[Row]:
    """Rows of a decoded JSON document: a list of host objects, or an object mapping hostname to labels.

    With `labels_key` the labels of a list item are taken from that key (e.g. `attributes` to re-import
    an `export-json` file); otherwise every key but the hostname key is a label.
    """
    data = follow_data_key(document, data_key, where)
    rows: list[Row] = []
    if isinstance(data, Mapping):
        for name, labels in data.items():
            item_where = f"{where} host {name!r}"
            if labels is None:
                labels = {}
            if not isinstance(labels, Mapping):
                raise SourceError(f"{item_where}: expected an object of labels, got {type(labels).__name__}")
            rows.append((check_hostname(name, item_where), dict(labels)))
        return rows
    if not isinstance(data, list):
        raise SourceError(
            f"{where}: expected a list of host objects or an object mapping hostnames to labels, "
            f"got {type(data).__name__}" + ("" if data_key else "; set data_key to the part that holds the hosts")
        )
    for index, item in enumerate(data):
        item_where = f"{where} item {index}"
        if not isinstance(item, Mapping):
            raise SourceError(f"{item_where}: expected an object, got {type(item).__name__}")
        if hostname_key not in item:
            keys = ", ".join(sorted(map(str, item))[:20]) or "none"
            raise SourceError(f"{item_where}: no hostname key {hostname_key!r} (keys: {keys})")
        hostname = check_hostname(item[hostname_key], f"{item_where} key {hostname_key!r}")
        if labels_key:
            labels = item.get(labels_key) or {}
            if not isinstance(labels, Mapping):
                raise SourceError(f"{item_where}: {labels_key!r} must be an object, got {type(labels).__name__}")
            labels = dict(labels)
        else:
            labels = {key: value for key, value in item.items() if key != hostname_key}
        rows.append((hostname, labels))
    return rows


def parse_json_text(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{where} line {exc.lineno} column {exc.colno}: malformed JSON: {exc.msg}") from exc


def read_json_file(
    path: str | Path,
    *,
    hostname_key: str = "hostname",
    data_key: str | None = None,
    labels_key: str | None = None,
    encoding: str = "utf-8",
) -> list[Row]:
    """Rows of a JSON file (see `rows_from_document` for the accepted shapes)."""
    document = parse_json_text(_read_text(path, encoding), str(path))
    return rows_from_document(document, str(path), hostname_key=hostname_key, data_key=data_key, labels_key=labels_key)


# --- JSON over HTTP --------------------------------------------------------------------------------------


def fetch_json_rows(
    request: Callable[..., Any],
    url: str,
    *,
    auth: Any = None,
    headers: Mapping[str, str] | None = None,
    hostname_key: str = "hostname",
    data_key: str | None = None,
    labels_key: str | None = None,
) -> list[Row]:
    """Rows of a JSON document fetched with `request` (a plugin's `inner_request`, or `requests.request`)."""
    document, _response = fetch_json(request, "GET", url, auth=auth, headers=headers)
    return rows_from_document(
        document,
        redact_url(url),
        hostname_key=hostname_key,
        data_key=data_key,
        labels_key=labels_key,
    )


def fetch_json(
    request: Callable[..., Any],
    method: str,
    url: str,
    *,
    auth: Any = None,
    headers: Mapping[str, str] | None = None,
    **request_options: Any,
) -> tuple[Any, Any]:
    """(decoded JSON body, response) of one request; every failure is a SourceError naming the URL (redacted)."""
    import requests

    shown = redact_url(url)

    try:
        response = request(method, url, auth=auth, headers=dict(headers or {}), **request_options)
    except requests.exceptions.SSLError as exc:
        raise SourceError(f"{shown}: TLS error ({exc}); check the certificate or the account's verify setting") from exc
    except requests.exceptions.Timeout as exc:
        raise SourceError(f"{shown}: no answer in time ({exc})") from exc
    except requests.exceptions.ConnectionError as exc:
        raise SourceError(f"{shown}: unreachable ({_reason(exc)})") from exc
    except requests.exceptions.RequestException as exc:
        raise SourceError(f"{shown}: request failed ({exc})") from exc
    if response.status_code in (401, 403):
        raise SourceError(
            f"{shown}: HTTP {response.status_code} {response.reason}: the source refused the credentials; "
            "check the account's username, password and auth type"
        )
    if response.status_code >= 400:
        body = " ".join(response.text.split())[:200]
        raise SourceError(f"{shown}: HTTP {response.status_code} {response.reason}" + (f": {body}" if body else ""))
    return parse_json_text(response.text, shown), response


def _reason(exc: Exception) -> str:
    """The innermost cause of a connection error (e.g. 'Connection refused'), without urllib3's noise."""
    cause: BaseException | None = exc
    while cause is not None and cause.__cause__ is not None and cause.__cause__ is not cause:
        cause = cause.__cause__
    text = str(cause or exc)
    match = re.search(r"\[Errno -?\d+\] ([^')]+)", str(exc)) or re.search(r"\[Errno -?\d+\] ([^')]+)", text)
    return match.group(1) if match else text


# --- YAML ------------------------------------------------------------------------------------------------

GROUP_KEYS = frozenset({"hosts", "vars", "children"})


def read_yaml_groups(path: str | Path, *, group_label: str = "group", encoding: str = "utf-8") -> list[Row]:
    """Rows of a YAML inventory of groups (Ansible's YAML layout), vars merged down to the hosts.

    The top level maps group names to `{hosts, vars, children}`; `hosts` is a mapping of hostname to its
    vars (or a list of names). A host's labels are the vars of its groups from the outside in, then its
    own vars, plus `group_label` = its group names (comma separated, sorted; `all` is not a group name).
    """
    text = _read_text(path, encoding)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        place = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise SourceError(f"{path}{place}: malformed YAML: {problem}") from exc
    if document is None:
        raise SourceError(f"{path}: empty file, expected a mapping of groups")
    if not isinstance(document, Mapping):
        raise SourceError(f"{path}: expected a mapping of groups at the top level, got {type(document).__name__}")
    hosts: dict[str, dict[str, Any]] = {}
    groups: dict[str, set[str]] = {}
    _walk_groups(str(path), document, (), {}, hosts, groups)
    rows: list[Row] = []
    for name, labels in hosts.items():
        names = sorted(groups[name])
        if names:
            labels[group_label] = ",".join(names)
        rows.append((name, labels))
    return rows


def _walk_groups(
    where: str,
    mapping: Mapping[Any, Any],
    trail: tuple[str, ...],
    inherited: dict[str, Any],
    hosts: dict[str, dict[str, Any]],
    groups: dict[str, set[str]],
) -> None:
    for group_name, spec in mapping.items():
        group = str(group_name)
        if group in trail:
            raise SourceError(f"{where}: group {group!r} contains itself ({' > '.join((*trail, group))})")
        path = " > ".join((*trail, group))
        spec = {} if spec is None else spec
        if not isinstance(spec, Mapping):
            raise SourceError(
                f"{where} group {path!r}: expected a mapping with hosts/vars/children, got {type(spec).__name__}"
            )
        unknown = sorted(set(map(str, spec)) - GROUP_KEYS)
        if unknown:
            raise SourceError(
                f"{where} group {path!r}: unknown key(s) {', '.join(unknown)} (expected hosts, vars, children)"
            )
        group_vars = spec.get("vars") or {}
        if not isinstance(group_vars, Mapping):
            raise SourceError(f"{where} group {path!r}: vars must be a mapping, got {type(group_vars).__name__}")
        merged = {**inherited, **{str(k): v for k, v in group_vars.items()}}
        member_groups = [name for name in (*trail, group) if name != "all"]
        for host, host_vars in _group_hosts(where, path, spec.get("hosts")):
            hostname = check_hostname(host, f"{where} group {path!r}")
            if not hostname:
                raise SourceError(f"{where} group {path!r}: empty hostname")
            labels = hosts.setdefault(hostname, {})
            labels.update(merged)
            labels.update(host_vars)
            groups.setdefault(hostname, set()).update(member_groups)
        children = spec.get("children") or {}
        if isinstance(children, list):
            children = dict.fromkeys(children)
        if not isinstance(children, Mapping):
            raise SourceError(f"{where} group {path!r}: children must be a mapping, got {type(children).__name__}")
        _walk_groups(where, children, (*trail, group), merged, hosts, groups)


def _group_hosts(where: str, path: str, hosts: Any) -> Iterable[tuple[Any, dict[str, Any]]]:
    if hosts is None:
        return []
    if isinstance(hosts, list):
        return [(name, {}) for name in hosts]
    if not isinstance(hosts, Mapping):
        raise SourceError(f"{where} group {path!r}: hosts must be a mapping or a list, got {type(hosts).__name__}")
    result = []
    for name, host_vars in hosts.items():
        if host_vars is None:
            host_vars = {}
        if not isinstance(host_vars, Mapping):
            raise SourceError(
                f"{where} group {path!r} host {name!r}: vars must be a mapping, got {type(host_vars).__name__}"
            )
        result.append((name, {str(k): v for k, v in host_vars.items()}))
    return result
