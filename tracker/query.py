"""The two search languages of the damas API, compiled to Django filters over `Node`.

Text: `key:value key:/regex/flags key<v key<=v key>v key>=v`, all terms must match; numbers compare as
numbers when the value is numeric. Mongo: a query object with the operators listed in TRACKER.md, plus
`"REGEX_<pattern>"` string values. `_id`, `#parent`, `origin` and `time` use their indexed columns; an
anchored `_id` regex (`^/shots/`) becomes an index range scan.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.db import connection
from django.db.models import BooleanField, F, FloatField, Func, OrderBy, Q, TextField, Value
from django.db.models.fields.json import HasKey
from django.db.models.lookups import (
    GreaterThan,
    GreaterThanOrEqual,
    IRegex,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Regex,
)

from tracker import limits
from tracker.limits import QueryError
from tracker.services.columns import _sqlite_path

NUMBER_RE = re.compile(r"^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
TERM_RE = re.compile(r"^([^:<>=]+?)(<=|>=|<|>|:)(.*)$", re.S)
REGEX_VALUE_RE = re.compile(r"^/(.*)/([a-z]*)$", re.S)
REGEX_META = set(".^$*+?()[]{}|\\")
MAX_DEPTH = 32
NOTHING = Q(pk__in=[])


class JsonNumber(Func):
    """The numeric value of a top-level key, NULL when the key is missing or not a number."""

    output_field = FloatField()
    data_references = 2  # each one may hold a copy of the node's data while PostgreSQL evaluates it

    def __init__(self, key: str):
        super().__init__(F("data"))
        self.key = key

    def as_postgresql(self, compiler, connection, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        sql = f"(CASE WHEN jsonb_typeof({lhs} -> %s) = 'number' THEN ({lhs} ->> %s)::double precision END)"
        return sql, [*params, self.key, *params, self.key]

    def as_sqlite(self, compiler, connection, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        path = _sqlite_path(self.key)
        sql = f"(CASE WHEN json_type({lhs}, %s) IN ('integer', 'real') THEN json_extract({lhs}, %s) END)"
        return sql, [*params, path, *params, path]


class JsonText(Func):
    """The string value of a top-level key, NULL when the key is missing or not a string."""

    output_field = TextField()
    data_references = 2

    def __init__(self, key: str):
        super().__init__(F("data"))
        self.key = key

    def as_postgresql(self, compiler, connection, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        sql = f"(CASE WHEN jsonb_typeof({lhs} -> %s) = 'string' THEN {lhs} ->> %s END)"
        return sql, [*params, self.key, *params, self.key]

    def as_sqlite(self, compiler, connection, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        path = _sqlite_path(self.key)
        sql = f"(CASE WHEN json_type({lhs}, %s) = 'text' THEN json_extract({lhs}, %s) END)"
        return sql, [*params, path, *params, path]


class JsonEquals(Func):
    """Top-level key equal to a JSON value (type-aware: 5 matches 5.0, "5" does not match 5)."""

    output_field = BooleanField()
    data_references = 1

    def __init__(self, key: str, value: Any):
        super().__init__(F("data"))
        self.key = key
        self.value = value

    def as_postgresql(self, compiler, connection, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        if isinstance(self.value, dict | list):
            return f"COALESCE(({lhs} -> %s) = %s::jsonb, FALSE)", [*params, self.key, json.dumps(self.value)]
        if not self._array_aware:
            return f"COALESCE(({lhs} -> %s) = %s::jsonb, FALSE)", [*params, self.key, json.dumps(self.value)]
        # Mongo equality: the value itself, or an array holding it. A jsonb scalar contains only itself and a
        # top-level array contains its scalar elements; types are kept ("5" never matches 5, 5 matches 5.0).
        return f"COALESCE(({lhs} -> %s) @> %s::jsonb, FALSE)", [*params, self.key, json.dumps(self.value)]

    _array_aware = True

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = self._sqlite_sql(compiler)
        if self._array_aware and not isinstance(self.value, dict | list):
            element, element_params = self._sqlite_element(compiler)
            return f"COALESCE(({sql} OR {element}), 0)", [*params, *element_params]
        return f"COALESCE({sql}, 0)", params

    def _sqlite_element(self, compiler):
        """An array at the key holds the scalar value (Mongo equality reaches into arrays)."""
        lhs, params = compiler.compile(self.source_expressions[0])
        path = _sqlite_path(self.key)
        value = self.value
        if isinstance(value, bool):
            test, test_params = "e.type = %s", ["true" if value else "false"]
        elif isinstance(value, str):
            test, test_params = "e.type = 'text' AND e.value = %s", [value]
        else:
            test, test_params = "e.type IN ('integer', 'real') AND e.value = %s", [value]
        sql = f"(json_type({lhs}, %s) = 'array' AND EXISTS (SELECT 1 FROM json_each({lhs}, %s) AS e WHERE {test}))"  # noqa: S608 - fixed SQL; values are parameters
        return sql, [*params, path, *params, path, *test_params]

    def _sqlite_sql(self, compiler):
        lhs, params = compiler.compile(self.source_expressions[0])
        path = _sqlite_path(self.key)
        value = self.value
        if isinstance(value, dict | list):
            # CASE, so json() never sees a scalar (json('x') is an error, not false).
            sql = (
                f"(CASE WHEN json_type({lhs}, %s) IN ('object', 'array')"
                f" THEN json(json_extract({lhs}, %s)) = json(%s) END)"
            )
            return sql, [*params, path, *params, path, json.dumps(value, separators=(",", ":"))]
        if isinstance(value, bool):
            return f"(json_type({lhs}, %s) = %s)", [*params, path, "true" if value else "false"]
        if isinstance(value, str):
            return f"(json_type({lhs}, %s) = 'text' AND json_extract({lhs}, %s) = %s)", [
                *params,
                path,
                *params,
                path,
                value,
            ]
        return f"(json_type({lhs}, %s) IN ('integer', 'real') AND json_extract({lhs}, %s) = %s)", [
            *params,
            path,
            *params,
            path,
            value,
        ]


class JsonIn(JsonEquals):
    """Top-level key equal to one of several JSON values: one read of the node's data on PostgreSQL."""

    _array_aware = False

    def __init__(self, key: str, values: list):
        super().__init__(key, None)
        self.values = values

    def as_postgresql(self, compiler, connection, **extra):
        lhs, params = compiler.compile(self.source_expressions[0])
        return f"COALESCE(({lhs} -> %s) = ANY(%s::text[]::jsonb[]), FALSE)", [
            *params,
            self.key,
            [json.dumps(v) for v in self.values],
        ]

    def as_sqlite(self, compiler, connection, **extra):
        parts, params = [], []
        for value in self.values:
            self.value = value
            sql, part_params = self._sqlite_sql(compiler)
            parts.append(sql)
            params.extend(part_params)
        return f"COALESCE(({' OR '.join(parts)}), 0)", params


def _column_safe(value: Any) -> Any:
    """Integers beyond 64 bits become floats, so no database driver refuses the parameter."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return float(value)
    if isinstance(value, list):
        return [_column_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _column_safe(v) for k, v in value.items()}
    return value


def _has_key(key: str) -> Q:
    if key == "_id":
        return ~NOTHING
    return Q(HasKey(F("data"), key))


def regex_value(value: str) -> tuple[str, str] | None:
    """(pattern, flags) of damas' regex strings: `REGEX_<pattern>`, `RX_<pattern>_RX<flags>` (or `RX_<pattern>`)."""
    if value.startswith("REGEX_"):
        return value[len("REGEX_") :], ""
    if value.startswith("RX_"):
        end = value.rfind("_RX")
        if end < 3:
            return value[3:], ""
        return value[3:end], value[end + 3 :]
    return None


def _equals(key: str, value: Any) -> Q:
    value = _column_safe(value)
    if isinstance(value, str) and (regex := regex_value(value)) is not None:
        if not set(regex[1]) <= REGEX_FLAGS:
            raise QueryError(f"the flags of a regular expression may be i, m, s and x; got {regex[1][:20]!r}")
        return _regex(key, *regex)
    if key == "_id":
        return Q(node_id=value) if isinstance(value, str) else NOTHING
    if value is None:
        return ~_has_key(key)
    if key == "#parent" and isinstance(value, str):
        return Q(parent=value)
    if key == "origin" and isinstance(value, str):
        return Q(origin=value)
    return Q(JsonEquals(key, value))


def _literal_prefix(pattern: str) -> tuple[str, bool]:
    """The fixed text an anchored pattern starts with, and whether that text is the whole pattern."""
    prefix: list[str] = []
    i = 1
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            nxt, step = pattern[i + 1], 2
        elif char in REGEX_META:
            break
        else:
            nxt, step = char, 1
        if i + step < len(pattern) and pattern[i + step] in "*?{":
            break  # the character is quantified: it may be absent or repeated
        prefix.append(nxt)
        i += step
    return "".join(prefix), i == len(pattern)


REGEX_FLAGS = set("imsx")


def _with_flags(pattern: str, flags: str) -> str:
    """The pattern with the flags m, s, x written inline, so both engines read it as JavaScript would.

    PostgreSQL reads embedded options at the start of the pattern (`p`: `.` and brackets stop at newlines,
    `n`: and `^`/`$` match at them, `w`: only `^`/`$` do, `s`: neither, `x`: expanded); SQLite runs Python's
    `re`, whose defaults are JavaScript's and which reads `(?msx)`. Without `s`, `.` stops at newlines.
    """
    if connection.vendor == "postgresql":
        multiline, dotall = "m" in flags, "s" in flags
        mode = {(False, False): "p", (True, False): "n", (True, True): "w", (False, True): "s"}[(multiline, dotall)]
        return f"(?{mode}{'x' if 'x' in flags else ''}){pattern}"
    inline = "".join(f for f in "msx" if f in flags)
    return f"(?{inline}){pattern}" if inline else pattern


def _regex(key: str, pattern: str, flags: str) -> Q:
    limits.check_regex(pattern, verbose="x" in flags)
    lookup = IRegex if "i" in flags else Regex
    engine_pattern = _with_flags(pattern, flags)
    if key == "_id":
        condition = Q(lookup(F("node_id"), engine_pattern))
        if pattern.startswith("^") and not set(flags) & {"i", "m", "x"} and "|" not in pattern:
            prefix, whole = _literal_prefix(pattern)
            if prefix:
                # SQLite's LIKE ignores case: there the regex still decides, after the index narrowed the range.
                exact = whole and connection.vendor != "sqlite"
                return Q(node_id__startswith=prefix) if exact else Q(node_id__startswith=prefix) & condition
        return condition
    return _defined(lookup(JsonText(key), engine_pattern), JsonText(key))


def _compare(key: str, op: str, value: Any) -> Q:
    lookup = {"$gt": GreaterThan, "$gte": GreaterThanOrEqual, "$lt": LessThan, "$lte": LessThanOrEqual}[op]
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise QueryError(f"{op} needs a number or a string")
    if key == "_id":
        return Q(lookup(F("node_id"), Value(str(value)))) if isinstance(value, str) else NOTHING
    value = _column_safe(value)
    if isinstance(value, int | float):
        if key == "time":
            return Q(lookup(F("time"), Value(int(value) if float(value).is_integer() else value)))
        return _defined(lookup(JsonNumber(key), Value(float(value))), JsonNumber(key))
    return _defined(lookup(JsonText(key), Value(value)), JsonText(key))


def _defined(condition, expression) -> Q:
    """FALSE instead of NULL when the key is missing or of another type, so that $not negates cleanly."""
    return Q(condition) & Q(IsNull(expression, False))


def _in(key: str, values: Any) -> Q:
    if not isinstance(values, list):
        raise QueryError("$in and $nin need a list")
    if key == "_id":
        return Q(node_id__in=[v for v in values if isinstance(v, str)])
    plain = [_column_safe(v) for v in values if _plain_json(key, v)]
    q = Q(JsonIn(key, plain)) if plain else NOTHING
    for value in values:
        if not _plain_json(key, value):
            q |= _equals(key, value)
    return q


def _plain_json(key: str, value: Any) -> bool:
    """Whether `_equals(key, value)` is a plain JSON comparison (not a column, a regex or a missing key)."""
    if value is None:
        return False
    return not (isinstance(value, str) and (regex_value(value) is not None or key in ("#parent", "origin")))


def _operators(key: str, spec: dict, depth: int) -> Q:
    q = Q()
    options = spec.get("$options", "")
    for op, value in spec.items():
        if op == "$options":
            continue
        if op == "$eq":
            q &= _equals(key, value)
        elif op == "$ne":
            q &= ~_equals(key, value) | ~_has_key(key) if value is not None else _has_key(key)
        elif op == "$exists":
            q &= _has_key(key) if value else ~_has_key(key)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            q &= _compare(key, op, value)
        elif op == "$in":
            q &= _in(key, value)
        elif op == "$nin":
            q &= ~_in(key, value) | ~_has_key(key)
        elif op == "$regex":
            if not isinstance(value, str):
                raise QueryError("$regex needs a string")
            q &= _regex(key, value, options if isinstance(options, str) else "")
        elif op == "$not":
            if isinstance(value, dict):
                q &= ~_operators(key, value, depth + 1)
            elif isinstance(value, str):
                match = REGEX_VALUE_RE.match(value)
                q &= ~(_regex(key, match[1], match[2]) if match else _regex(key, value, ""))
            else:
                raise QueryError("$not needs an operator object or a regex")
        else:
            raise QueryError(f"unsupported operator {op}")
    return q


def mongo_query(query: Any) -> Q:
    """Compile a Mongo-style query object, bounded by tracker.limits before and after it is compiled."""
    limits.check_mongo_query(query)
    return limits.check_query_cost(_mongo_query(query, 0))


def _mongo_query(query: Any, depth: int) -> Q:
    if depth > MAX_DEPTH:
        raise QueryError("query nested too deeply")
    if query is None:
        return Q()
    if not isinstance(query, dict):
        raise QueryError("query must be a JSON object")
    q = Q()
    for key, value in query.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list) or not value:
                raise QueryError(f"{key} needs a non-empty list")
            parts = [_mongo_query(v, depth + 1) for v in value]
            combined = parts[0]
            for part in parts[1:]:
                combined = combined & part if key == "$and" else combined | part
            q &= ~combined if key == "$nor" else combined
        elif key.startswith("$"):
            raise QueryError(f"unsupported operator {key}")
        elif isinstance(value, dict) and value and all(k.startswith("$") for k in value):
            q &= _operators(key, value, depth + 1)
        else:
            q &= _equals(key, value)
    return q


def mongo_order(sort: Any) -> list:
    """`{key: 1 | -1}` to order_by() arguments, `_id` last as the tie-breaker."""
    if sort in (None, {}):
        return ["node_id"]
    if not isinstance(sort, dict):
        raise QueryError('sort must be an object like {"time": -1}')
    order: list = []
    for key, direction in sort.items():
        if direction not in (1, -1, "1", "-1", "asc", "desc"):
            raise QueryError(f"sort direction of {key} must be 1 or -1")
        descending = direction in (-1, "-1", "desc")
        if key == "_id":
            order.append("-node_id" if descending else "node_id")
            continue
        if key == "time":
            order.append(OrderBy(F("time"), descending=descending, nulls_last=True))
            continue
        # Numbers before strings (reversed when descending), the same on PostgreSQL and SQLite.
        by_type = [
            OrderBy(JsonNumber(key), descending=descending, nulls_last=True),
            OrderBy(JsonText(key), descending=descending, nulls_last=True),
        ]
        order.extend(reversed(by_type) if descending else by_type)
    if not any(o in ("node_id", "-node_id") for o in order):
        order.append("node_id")
    limits.check_query_cost(*order)
    return order


def _number(text: str) -> float | None:
    return float(text) if NUMBER_RE.match(text) else None


def text_query(query: str) -> Q:
    """Compile the text language; every term must match."""
    terms = query.split()
    if not terms:
        raise QueryError("empty query")
    limits.check_text_terms(terms)
    q = Q()
    for term in terms:
        match = TERM_RE.match(term)
        if not match:
            raise QueryError(f"cannot read term {term!r}: expected key:value, key<value, key>=value...")
        key, op, value = match.groups()
        if op == ":":
            regex = REGEX_VALUE_RE.match(value)
            if regex and len(value) > 1:
                q &= _regex(key, regex[1], regex[2])
                continue
            alternatives = _equals(key, value)
            number = _number(value)
            if number is not None and key != "_id":
                alternatives |= _equals(key, int(number) if number.is_integer() else number)
            if value in ("true", "false") and key != "_id":
                alternatives |= _equals(key, value == "true")
            q &= alternatives
            continue
        mongo_op = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte"}[op]
        number = _number(value)
        q &= _compare(key, mongo_op, number if number is not None and key != "_id" else value)
    return limits.check_query_cost(q)
