"""Bounds on the work of one damas request, checked at the door before any query runs.

A request body is size-checked (Content-Length, then the bytes read), its JSON values counted before
they are parsed, parsed with the number rules of `tracker.numbers`, then walked once without recursion
(depth, NUL characters, lone UTF-16 surrogates, node sizes). Queries are bounded in terms, values,
depth and regular-expression length and shape. The database work of a request runs under a time limit
(`statement_timeout` on PostgreSQL, a progress handler on SQLite). Settings and defaults: `tracker.conf`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction
from django.db.models import Q, Sum, TextField
from django.db.models.fields.json import HasKey
from django.db.models.functions import Cast, Length
from django.db.transaction import TransactionManagementError
from django.http import HttpRequest

from tracker import conf
from tracker.numbers import NumberOutOfRange, refuse_constant, strict_float, strict_int
from tracker.services.errors import InvalidInput, TrackerError

# Possible NUL or surrogate in the raw bytes: a `\u0000` or `\uD800`-`\uDFFF` escape, or a UTF-8 encoded
# surrogate (which json.loads decodes with surrogatepass). Only bodies that match are walked for them.
_SUSPECT_TEXT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|\xed[\xa0-\xbf]")
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
MAX_REGEX_GROUP_DEPTH = 10
SQLITE_PROGRESS_STEPS = 1000
_REPEAT_BRACES = re.compile(r"\{(\d*)(,?)(\d*)\}")


class TooLarge(TrackerError):
    """The input is over a size limit (413)."""

    status = 413


class OverLimit(InvalidInput):
    """The input is over a count, depth or complexity limit (400)."""


class QueryError(InvalidInput):
    """A query the languages cannot express; answered with 400."""


class QueryOverLimit(QueryError):
    """A query over a count, depth or complexity limit (400)."""


class TimeLimitReached(TrackerError):
    """The database work of the request ran past TRACKER_STATEMENT_TIMEOUT_MS and was stopped (503)."""

    status = 503

    def __init__(self) -> None:
        ms = conf.statement_timeout_ms()
        super().__init__(
            f"The query ran past the time limit of {ms} ms (TRACKER_STATEMENT_TIMEOUT_MS) and was stopped; "
            "narrow it or page through the results."
        )


# --------------------------------------------------------------------------------------------- bodies


def read_json_body(request: HttpRequest, *, nodes: bool = False) -> Any:
    """The JSON body of a damas request, checked against every body limit; `nodes`: items are node keys."""
    raw = read_body(request)
    if not raw.strip():
        raise InvalidInput("Empty body: send JSON.")
    return parse_json(raw, nodes=nodes)


def read_body(request: HttpRequest) -> bytes:
    """The body bytes, refused with 413 from the Content-Length header or after reading one byte too many."""
    limit = conf.max_body_bytes()
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.strip().isdigit() and int(declared) > limit:
        raise TooLarge(f"Request body larger than {limit} bytes (TRACKER_MAX_BODY_BYTES).")
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge(f"Request body larger than {limit} bytes (TRACKER_MAX_BODY_BYTES).")
    return raw


def parse_json(raw: bytes, *, nodes: bool = False) -> Any:
    """Parse a body: value count first (from the bytes), then numbers, nesting, text and node sizes."""
    _check_value_count(raw)
    try:
        data = json.loads(raw, parse_int=strict_int, parse_float=strict_float, parse_constant=refuse_constant)
    except NumberOutOfRange as exc:
        raise InvalidInput(f"Invalid number: {exc}.") from exc
    except RecursionError as exc:
        raise OverLimit(f"Invalid JSON: nested deeper than {conf.max_json_depth()} (TRACKER_MAX_JSON_DEPTH).") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"Invalid JSON: {exc}") from exc
    check_json(data, text=_SUSPECT_TEXT.search(raw) is not None)
    if nodes and len(raw) > conf.max_node_bytes():  # a smaller body cannot hold a larger node
        check_node_sizes(data)
    return data


def _check_value_count(raw: bytes) -> None:
    """Refuse bodies with more values than TRACKER_MAX_JSON_VALUES, counted on the bytes (commas and
    brackets outside strings), so that parsing them cannot take unbounded memory."""
    limit = conf.max_json_values()
    if raw.count(b",") + raw.count(b"[") + raw.count(b"{") <= limit:
        return
    bare = _JSON_STRING.sub(b'""', raw)
    if bare.count(b",") + bare.count(b"[") + bare.count(b"{") > limit:
        raise TooLarge(f"Request body holds more than {limit} JSON values (TRACKER_MAX_JSON_VALUES).")


def check_json(data: Any, *, text: bool = True) -> None:
    """Walk parsed JSON without recursion: nesting depth, and (when `text`) NUL characters and lone
    surrogates in keys and values, which neither PostgreSQL nor UTF-8 can store."""
    max_depth = conf.max_json_depth()
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            if text:
                _check_text(value)
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= max_depth:
            raise OverLimit(f"JSON nested deeper than {max_depth} (TRACKER_MAX_JSON_DEPTH).")
        if isinstance(value, dict):
            for key, item in value.items():
                if text:
                    _check_text(key)
                stack.append((item, depth + 1))
        else:
            stack.extend((item, depth + 1) for item in value)


def _check_text(value: str) -> None:
    bad = _BAD_TEXT.search(value)
    if bad is None:
        return
    if bad.group() == "\x00":
        raise InvalidInput("NUL characters (\\u0000) are not allowed in keys or values.")
    raise InvalidInput(f"Lone UTF-16 surrogate (\\u{ord(bad.group()):04x}) in a string: not valid Unicode text.")


def check_text(value: str) -> str:
    """A text from the path or a form: no NUL, no lone surrogate."""
    _check_text(value)
    return value


def node_bytes(data: dict) -> int:
    """The size a node's keys take as compact UTF-8 JSON (what TRACKER_MAX_NODE_BYTES bounds)."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def node_size_error(node_id: object, data: dict) -> TooLarge | None:
    """A TooLarge error when these keys are over TRACKER_MAX_NODE_BYTES, else None."""
    limit = conf.max_node_bytes()
    size = node_bytes(data)
    if size <= limit:
        return None
    name = node_id if isinstance(node_id, str) else None
    label = f"{name[:200]} " if name else ""
    return TooLarge(f"node {label}is {size} bytes, over the {limit} bytes of TRACKER_MAX_NODE_BYTES", name)


def check_node_sizes(payload: Any) -> None:
    """Every node of a write body (an object or an array of objects) within TRACKER_MAX_NODE_BYTES.

    Ranges of items are measured together and halved only while over the limit, so a body of many small
    nodes costs two or three encodings, not one per node (ASCII-escaped JSON is never shorter than UTF-8)."""
    items = payload if isinstance(payload, list) else [payload]
    limit = conf.max_node_bytes()
    ranges = [(0, len(items))]
    while ranges:
        start, end = ranges.pop()
        if end - start > 1:
            if len(json.dumps(items[start:end], separators=(",", ":"))) > limit:
                middle = (start + end) // 2
                ranges += [(start, middle), (middle, end)]
            continue
        item = items[start] if end > start else None
        if isinstance(item, dict):
            error = node_size_error(item.get("_id"), {k: v for k, v in item.items() if k != "_id"})
            if error is not None:
                raise error


# --------------------------------------------------------------------------------------------- queries


def check_mongo_query(query: Any) -> None:
    """Bound a search_mongo query before it is compiled: list terms, total values, nesting depth."""
    max_terms, max_nodes, max_depth = conf.max_query_terms(), conf.max_query_nodes(), conf.max_query_depth()
    count = 0
    stack: list[tuple[Any, int]] = [(query, 0)]
    while stack:
        value, depth = stack.pop()
        count += 1
        if count > max_nodes:
            raise QueryOverLimit(f"query has more than {max_nodes} values (TRACKER_MAX_QUERY_NODES).")
        if depth > max_depth:
            raise QueryOverLimit(f"query nested deeper than {max_depth} (TRACKER_MAX_QUERY_DEPTH).")
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "_id" and isinstance(item, dict) and _id_lists(item):
                    continue  # `_id` lists are one indexed IN; their length is checked by _id_lists
                if isinstance(item, list) and key in ("$or", "$and", "$nor", "$in", "$nin") and len(item) > max_terms:
                    raise QueryOverLimit(f"{key} has {len(item)} terms, over {max_terms} (TRACKER_MAX_QUERY_TERMS).")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


def _id_lists(spec: dict) -> bool:
    """Whether an `_id` operator object is only `$in`/`$nin` lists (bounded by TRACKER_MAX_ITEMS)."""
    if not spec or not all(k in ("$in", "$nin") and isinstance(v, list) for k, v in spec.items()):
        return False
    for key, values in spec.items():
        if len(values) > conf.max_body_items():
            raise QueryOverLimit(f"_id {key} has {len(values)} ids, over {conf.max_body_items()} (TRACKER_MAX_ITEMS).")
    return True


def check_sort(sort: Any) -> None:
    if isinstance(sort, dict) and len(sort) > conf.max_query_terms():
        raise QueryOverLimit(f"sort has more than {conf.max_query_terms()} keys (TRACKER_MAX_QUERY_TERMS).")


def check_text_terms(terms: list[str]) -> None:
    if len(terms) > conf.max_query_terms():
        raise QueryOverLimit(f"search has {len(terms)} terms, over {conf.max_query_terms()} (TRACKER_MAX_QUERY_TERMS).")


def check_regex(pattern: str, *, verbose: bool = False) -> None:
    """A regular expression a search may run: bounded length and group depth, no repeated group that
    itself repeats or alternates (exponential backtracking), and one Python can compile (`verbose`: the x flag)."""
    limit = conf.max_regex_length()
    if len(pattern) > limit:
        raise QueryOverLimit(f"regular expression longer than {limit} characters (TRACKER_MAX_REGEX_LENGTH).")
    _check_regex_shape(pattern)
    try:
        re.compile(pattern, re.VERBOSE if verbose else 0)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        raise QueryError(f"invalid regular expression {pattern[:200]!r}: {exc}") from exc


def _check_regex_shape(pattern: str) -> None:
    """One pass over the pattern (no recursion): group depth, and repeats of groups holding a repeat or `|`."""
    open_groups: list[bool] = []  # per open group: does its body repeat or alternate?
    last_group_risky: bool | None = None  # the atom just read was a group: was it risky?
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        atom_group: bool | None = None
        if char == "\\":
            i += 2
        elif char == "[":
            i = _skip_class(pattern, i)
        elif char == "(":
            open_groups.append(False)
            if len(open_groups) > MAX_REGEX_GROUP_DEPTH:
                raise QueryOverLimit(f"regular expression nests groups deeper than {MAX_REGEX_GROUP_DEPTH}.")
            i += 2 if pattern[i + 1 : i + 2] == "?" else 1
        elif char == ")":
            risky = open_groups.pop() if open_groups else False
            if open_groups and risky:
                open_groups[-1] = True
            atom_group = risky
            i += 1
        elif char == "|":
            if open_groups:
                open_groups[-1] = True
            i += 1
        elif char in "*+{":
            repeat, i = _quantifier(pattern, i)
            if repeat:
                if last_group_risky:
                    raise QueryOverLimit(
                        "regular expression repeats a group that itself repeats or alternates "
                        "(exponential matching); use a character class or a bounded repeat instead."
                    )
                if open_groups:
                    open_groups[-1] = True
        else:
            i += 1
        last_group_risky = atom_group


def _skip_class(pattern: str, i: int) -> int:
    i += 1
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


def _quantifier(pattern: str, i: int) -> tuple[bool, int]:
    """(whether the quantifier at i allows more than one repetition, the index after it)."""
    if pattern[i] in "*+":
        return True, i + 1
    match = _REPEAT_BRACES.match(pattern, i)
    if match is None or not (match[1] or match[3]):
        return False, i + 1  # a literal brace
    low, comma, high = match[1], match[2], match[3]
    most = int(high) if high else (None if comma else int(low))
    return most is None or most > 1, match.end()


def check_query_cost(*parts: Any) -> Any:
    """Refuse a compiled query (a Q, or order_by() terms) whose conditions read the node's JSON more than
    TRACKER_MAX_QUERY_CONDITIONS times: PostgreSQL may hold a copy of a row's data for each of them at once
    (500 conditions on a 1 MiB node took 520 MB). Returns the first part."""
    limit = conf.max_query_conditions()
    total = 0
    stack = list(parts)
    while stack:
        node = stack.pop()
        if isinstance(node, Q):
            stack.extend(node.children)
        elif isinstance(node, tuple):
            stack.extend(node[1:])
        elif isinstance(node, HasKey):
            total += 1
        elif hasattr(node, "data_references"):
            total += node.data_references
        elif hasattr(node, "get_source_expressions"):
            stack.extend(node.get_source_expressions())
        if total > limit:
            raise QueryOverLimit(
                f"query reads the nodes' keys more than {limit} times (TRACKER_MAX_QUERY_CONDITIONS): "
                "use fewer conditions, or $in for alternatives of one key."
            )
    return parts[0] if parts else None


def check_page(limit: int) -> int:
    """The page size a search may answer: `limit` cut to TRACKER_MAX_PAGE_SIZE (0 = the maximum)."""
    most = conf.max_page_size()
    return most if limit <= 0 or limit > most else limit


# --------------------------------------------------------------------------------------------- answers


def check_response_size(queryset, count: int) -> None:
    """Before loading `count` nodes of `queryset`: refuse when their keys add up to more than
    TRACKER_MAX_RESPONSE_BYTES. Free when so few nodes cannot reach it (each is within the node limit)."""
    budget = conf.max_response_bytes()
    if count * conf.max_node_bytes() <= budget:
        return
    total = queryset.aggregate(size=Sum(Length(Cast("data", TextField()))))["size"] or 0
    if total > budget:
        raise TooLarge(
            f"These nodes add up to {total} bytes, over the {budget} bytes of TRACKER_MAX_RESPONSE_BYTES: "
            "ask for fewer at a time."
        )


# --------------------------------------------------------------------------------------------- time


@contextmanager
def time_limit() -> Iterator[None]:
    """Run the block's database work under TRACKER_STATEMENT_TIMEOUT_MS; past it, TimeLimitReached.

    PostgreSQL: `SET LOCAL statement_timeout` in a transaction around the block (restored afterwards when
    the block ran inside an outer transaction). SQLite: a progress handler that aborts the running
    statement once the deadline has passed. Both: no statement starts after the deadline, so the whole
    request takes at most about twice the limit.
    """
    ms = conf.statement_timeout_ms()
    if ms <= 0:
        yield
        return
    deadline = time.monotonic() + ms / 1000

    def before_each_statement(execute, sql, params, many, context):
        if time.monotonic() > deadline:  # a request of many short statements is bounded too
            raise TimeLimitReached()
        return execute(sql, params, many, context)

    try:
        if connection.vendor == "postgresql":
            with _pg_time_limit(ms), connection.execute_wrapper(before_each_statement):
                yield
        elif connection.vendor == "sqlite":
            with _sqlite_time_limit(deadline), connection.execute_wrapper(before_each_statement):
                yield
        else:
            with connection.execute_wrapper(before_each_statement):
                yield
    except OperationalError as exc:
        if _is_time_limit(exc):
            raise TimeLimitReached() from exc
        raise


@contextmanager
def _pg_time_limit(ms: int) -> Iterator[None]:
    if not connection.in_atomic_block:
        with transaction.atomic():
            _pg_set_timeout(f"{ms}ms")
            yield
        return
    # Inside an outer transaction (ATOMIC_REQUESTS, tests): SET LOCAL would outlive the request, so the
    # outer setting is put back afterwards (an aborted transaction resets it when it rolls back).
    previous = _pg_set_timeout(f"{ms}ms")
    try:
        yield
    finally:
        with suppress(DatabaseError, TransactionManagementError):
            _pg_set_timeout(previous)


def _pg_set_timeout(value: str) -> str:
    """SET LOCAL statement_timeout; the value it had before."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)", [value]
        )
        return cursor.fetchone()[0]


@contextmanager
def _sqlite_time_limit(deadline: float) -> Iterator[None]:
    connection.ensure_connection()
    raw = connection.connection

    def past_deadline() -> int:
        return 1 if time.monotonic() > deadline else 0

    raw.set_progress_handler(past_deadline, SQLITE_PROGRESS_STEPS)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def _is_time_limit(exc: BaseException) -> bool:
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "57014" or getattr(cause, "pgcode", None) == "57014":
        return True  # query_canceled: PostgreSQL's statement_timeout
    return connection.vendor == "sqlite" and "interrupted" in str(exc)
