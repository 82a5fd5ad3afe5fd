"""Rule conditions: what a condition's operators mean, as closures and as inline expressions.

Also the memoised template Renderer that both needles and outcomes use.

A condition becomes a closure over a HostView (regexes compiled, needles lowercased and split, Jinja
templates compiled) and, for the common operators, an inline Python expression that hosts.rules puts
into a phase's generated function. Matching is case-insensitive everywhere: keys and values are
compared lowercased and stripped of surrounding whitespace, regexes are compiled with re.IGNORECASE and
anchored at the start (re.match). Values that are lists match `in` / `not_in` / `string_in_list`
element-wise.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from jinja2 import meta

from hosts.jinja import _ENV, compile_template, is_template

# the rule engine's log, whichever of its modules writes
logger = logging.getLogger("hosts.rules")

_MISSING = object()
TRUE_WORDS = frozenset({"true", "yes", "1", "on"})


class RuleError(ValueError):
    """A rule that cannot be compiled (bad regex, bad template, unknown operator)."""


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in TRUE_WORDS


def comparable_text(value: Any) -> str:
    """The comparable form of a value: lowercased text without surrounding whitespace."""
    if isinstance(value, str):
        return value.strip().lower()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip().lower()


class HostView:
    """One host's attributes prepared for matching: lowercased keys, comparable text, a lazy Jinja context.

    Built once per host; outcomes change attributes through put()/remove() so the view stays current.
    """

    __slots__ = ("attrs", "hostname", "keys", "lists", "name", "raw", "text")

    def __init__(self, hostname: str, attrs: dict[str, Any]):
        self.name = hostname
        self.hostname = hostname.strip().lower()
        self.attrs = attrs
        keys: dict[str, str] = {}
        raw: dict[str, Any] = {}
        text: dict[str, str] = {}
        lists: set[str] = set()
        for key, value in attrs.items():
            lkey = key.lower()
            keys[lkey] = key
            raw[lkey] = value
            if type(value) is str:
                text[lkey] = value.strip().lower()
            else:
                text[lkey] = comparable_text(value)
                if isinstance(value, list):
                    lists.add(lkey)
        self.lists = lists
        self.keys = keys
        self.raw = raw
        self.text = text

    def ctx(self) -> dict[str, Any]:
        """The variables templates see: the live attributes, which include HOSTNAME (no copy)."""
        return self.attrs

    def put(self, key: str, value: Any, lkey: str | None = None) -> None:
        if lkey is None:
            lkey = key.lower()
        self.attrs[key] = value
        self.keys[lkey] = key
        self.raw[lkey] = value
        if type(value) is str:
            self.text[lkey] = value.strip().lower()
            if self.lists:
                self.lists.discard(lkey)
        else:
            self.text[lkey] = comparable_text(value)
            if isinstance(value, list):
                self.lists.add(lkey)
            else:
                self.lists.discard(lkey)

    def remove(self, key: str) -> None:
        lkey = key.lower()
        del self.attrs[key]
        if self.keys.get(lkey) == key:
            del self.keys[lkey], self.raw[lkey], self.text[lkey]
            self.lists.discard(lkey)


# --- templates (needles and outcomes) -------------------------------------------------------------


def _key_function(names: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """ctx -> the memo key: the values of the variables a template uses (unrolled for one or two)."""
    if not names:
        return lambda ctx: ()
    if len(names) == 1:
        (first,) = names
        return lambda ctx: ctx.get(first, _MISSING)
    if len(names) == 2:
        first, second = names
        return lambda ctx: (ctx.get(first, _MISSING), ctx.get(second, _MISSING))
    return lambda ctx: tuple([ctx.get(name, _MISSING) for name in names])


class Renderer:
    """A compiled template that renders with only the variables it uses, memoised by their values.

    Many hosts share values (the same os, the same site), so a rule's template is rendered once per
    distinct combination. Templates using `random` are never memoised.
    """

    __slots__ = ("failed", "key", "memo", "names", "source", "template")
    MEMO_SIZE = 8192

    def __init__(self, source: str):
        try:
            self.template = compile_template(source)
            names = meta.find_undeclared_variables(_ENV.parse(source))
        except Exception as exc:
            raise RuleError(f"invalid Jinja template {source!r}: {exc}") from exc
        self.source = source
        self.failed = False
        self.names = tuple(sorted(names))
        self.memo: dict[Any, str] | None = None if "random" in source else {}
        self.key = _key_function(self.names)

    def __call__(self, ctx: dict[str, Any]) -> str:
        names = self.names
        key: Any = None
        if self.memo is not None:
            key = self.key(ctx)
            try:
                cached = self.memo.get(key)
            except TypeError:  # an unhashable value (a list, a dict): render without the memo
                key, cached = None, None
            if cached is not None:
                return cached
        try:
            result = self.template.render({name: ctx[name] for name in names if name in ctx})
        except Exception as exc:  # one host's odd value must not stop a whole export run
            if not self.failed:
                self.failed = True
                logger.error("rule template %r failed (rendered as empty text): %s", self.source, exc)
            return ""
        if self.memo is not None and key is not None:
            if len(self.memo) >= self.MEMO_SIZE:
                self.memo.clear()
            self.memo[key] = result
        return result


def renderer(source: str) -> Callable[[dict[str, Any]], str]:
    """ctx -> text: a memoised Renderer for templates, a constant for plain text."""
    if is_template(source):
        return Renderer(source)
    return lambda ctx: source


# --- operators -----------------------------------------------------------------------------------

Predicate = Callable[[Any], bool]
ConditionTest = Callable[[HostView], bool]

# Operators that look at list values element-wise get the raw value; the others the comparable text.
RAW_OPERATORS = frozenset({"in", "not_in", "string_in_list"})


def _in(n: str) -> Predicate:
    return lambda v: (n in [comparable_text(x) for x in v]) if isinstance(v, list) else (n in comparable_text(v))


def _predicate(op: str, needle: str) -> Predicate:
    """A one-argument predicate for a needle known at compile time (text, or raw for RAW_OPERATORS)."""
    n = needle.lower()
    if op == "equal":
        return n.strip().__eq__
    if op == "in":
        return _in(n)
    if op == "not_in":
        inside = _in(n)
        return lambda v: not inside(v)
    if op == "in_list":
        return frozenset(x.strip() for x in n.split(",")).__contains__
    if op == "string_in_list":
        wanted = n.strip()
        return lambda v: (
            wanted
            in (
                [comparable_text(x) for x in v]
                if isinstance(v, list)
                else [x.strip() for x in comparable_text(v).split(",")]
            )
        )
    if op == "swith":
        return lambda t: t.startswith(n)
    if op == "ewith":
        return lambda t: t.endswith(n)
    if op == "regex":
        try:
            match = re.compile(needle, re.IGNORECASE).match
        except re.error as exc:
            raise RuleError(f"invalid regular expression {needle!r}: {exc}") from exc
        return lambda t: match(t) is not None
    if op == "bool":
        wanted_bool = to_bool(needle)
        return lambda t: (t in TRUE_WORDS) is wanted_bool
    if op == "ignore":
        return lambda v: True
    raise RuleError(f"unknown operator {op!r}")


def _dynamic_predicate(op: str, needle: str) -> Callable[[HostView], Predicate]:
    """For a Jinja needle: view -> predicate, with predicates cached by rendered needle."""
    render = renderer(needle)
    _predicate(op, "")  # reject an unknown operator now rather than per host
    built: dict[str, Predicate] = {}

    def for_view(view: HostView) -> Predicate:
        rendered = render(view.ctx())
        pred = built.get(rendered)
        if pred is None:
            pred = _predicate(op, rendered)
            if len(built) < 4096:
                built[rendered] = pred
        return pred

    return for_view


def _value_check(op: str, needle: Any, negate: bool) -> Callable[[HostView, str], bool]:
    """(view, lowercased key) -> whether the key exists and its value matches."""
    needle = "" if needle is None else str(needle)
    if op == "ignore":
        if negate:
            return lambda view, key: False
        return lambda view, key: key in view.text
    if is_template(needle):
        for_view = _dynamic_predicate(op, needle)
        source = "raw" if op in RAW_OPERATORS else "text"

        def dynamic(view: HostView, key: str) -> bool:
            value = getattr(view, source).get(key, _MISSING)
            return value is not _MISSING and for_view(view)(value) is not negate

        return dynamic
    pred = _predicate(op, needle)
    if op in RAW_OPERATORS:
        if negate:
            return lambda view, key: (v := view.raw.get(key, _MISSING)) is not _MISSING and not pred(v)
        return lambda view, key: (v := view.raw.get(key, _MISSING)) is not _MISSING and pred(v)
    if negate:
        return lambda view, key: (t := view.text.get(key)) is not None and not pred(t)
    return lambda view, key: (t := view.text.get(key)) is not None and pred(t)


def _hostname_test(op: str, needle: Any, negate: bool) -> ConditionTest:
    needle = "" if needle is None else str(needle)
    if op == "ignore":
        return (lambda view: False) if negate else (lambda view: True)
    if is_template(needle):
        for_view = _dynamic_predicate(op, needle)
        return lambda view: for_view(view)(view.hostname) is not negate
    pred = _predicate(op, needle)
    if negate:
        return lambda view: not pred(view.hostname)
    return lambda view: pred(view.hostname)


def _static_key_predicate(op: str, key: str, negate: bool) -> Predicate:
    if op == "ignore":
        return (lambda k: False) if negate else (lambda k: True)
    if is_template(key):
        raise RuleError(f"attribute keys cannot be templates: {key!r}")
    pred = _predicate(op, key)
    return (lambda k: not pred(k)) if negate else pred


def compile_condition(cond: Any) -> ConditionTest:
    """Condition (model instance or anything with the same attributes) -> test(HostView) -> bool."""
    if cond.match_type == "hostname":
        return _hostname_test(cond.hostname_match, cond.hostname, cond.hostname_match_negate)

    key = (cond.attribute or "").strip()
    lkey = key.lower()
    check = _value_check(cond.value_match, cond.value, cond.value_match_negate)
    if cond.attribute_match == "ignore" and cond.attribute_match_negate:
        # "no key named X": true when the attribute is absent
        return lambda view: lkey not in view.text
    if cond.attribute_match == "equal" and not cond.attribute_match_negate:
        return _by_key(cond.value_match, cond.value, cond.value_match_negate, lkey) or (lambda view: check(view, lkey))
    key_pred = _static_key_predicate(cond.attribute_match, key, cond.attribute_match_negate)
    return lambda view: any(key_pred(k) and check(view, k) for k in view.text)


def _by_key(op: str, needle: Any, negate: bool, lkey: str) -> ConditionTest | None:
    """Single-closure tests for the common static cases (one call per condition instead of three)."""
    needle = "" if needle is None else str(needle)
    if is_template(needle):
        return None
    if op == "ignore":
        return (lambda view: False) if negate else (lambda view: lkey in view.text)
    if op in RAW_OPERATORS:
        return _by_key_raw(op, needle, negate, lkey)
    if op == "equal":
        n = needle.strip().lower()
        if negate:
            return lambda view: (t := view.text.get(lkey)) is not None and t != n
        return lambda view: view.text.get(lkey) == n
    if op == "in_list":
        items = frozenset(x.strip() for x in needle.lower().split(","))
        if negate:
            return lambda view: (t := view.text.get(lkey)) is not None and t not in items
        return lambda view: view.text.get(lkey) in items
    pred = _predicate(op, needle)
    if negate:
        return lambda view: (t := view.text.get(lkey)) is not None and not pred(t)
    return lambda view: (t := view.text.get(lkey)) is not None and pred(t)


def _by_key_raw(op: str, needle: str, negate: bool, lkey: str) -> ConditionTest:
    """in / not_in / string_in_list: text fast path, element-wise only for list values."""
    n = needle.lower()
    on_list = _predicate(op, needle)
    if op == "string_in_list":
        n = n.strip()

        def on_text(t: str) -> bool:
            return n in t and n in [x.strip() for x in t.split(",")]

    elif op == "in":

        def on_text(t: str) -> bool:
            return n in t

    else:

        def on_text(t: str) -> bool:
            return n not in t

    if negate:
        return lambda view: (
            (t := view.text.get(lkey)) is not None
            and not (on_list(view.raw[lkey]) if lkey in view.lists else on_text(t))
        )
    return lambda view: (
        (t := view.text.get(lkey)) is not None and (on_list(view.raw[lkey]) if lkey in view.lists else on_text(t))
    )


def combine_conditions(condition_type: str, tests: list[ConditionTest]) -> ConditionTest | None:
    """One test for the whole rule (None: always matches), unrolled for the usual one or two conditions."""
    if condition_type == "anyway":
        return None
    if condition_type == "any":
        if not tests:
            return lambda view: False
        if len(tests) == 1:
            return tests[0]
        if len(tests) == 2:
            first, second = tests
            return lambda view: first(view) or second(view)
        return lambda view: any(test(view) for test in tests)
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    if len(tests) == 2:
        first, second = tests
        return lambda view: first(view) and second(view)
    return lambda view: all(test(view) for test in tests)


# --- code generation ---------------------------------------------------------------------------------------
#
# A phase's rules become one generated Python function: the common conditions are inline expressions
# over the view's dicts instead of closure calls, which is most of the per-host cost. Needles and
# keys are never put into the source: every value lives in the function's namespace under a
# generated name; anything unusual (templates, key scans) calls the condition's compiled closure.


class ExpressionNames:
    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"_TRUE_WORDS": TRUE_WORDS}
        self._count = 0

    def add(self, value: Any) -> str:
        name = f"_v{self._count}"
        self._count += 1
        self.namespace[name] = value
        return name


def _text_expression(op: str, needle: str, subject: str, names: ExpressionNames) -> str | None:
    """An expression over `subject` (comparable text) for a static needle, or None."""
    n = needle.lower()
    if op == "equal":
        return f"{subject} == {names.add(n.strip())}"
    if op == "in_list":
        return f"{subject} in {names.add(frozenset(x.strip() for x in n.split(',')))}"
    if op == "swith":
        return f"{subject}.startswith({names.add(n)})"
    if op == "ewith":
        return f"{subject}.endswith({names.add(n)})"
    if op == "in":
        return f"{names.add(n)} in {subject}"
    if op == "not_in":
        return f"{names.add(n)} not in {subject}"
    if op == "regex":
        return f"{names.add(_predicate('regex', needle))}({subject})"
    if op == "bool":
        return f"(({subject}) in _TRUE_WORDS) is {names.add(to_bool(needle))}"
    return None


def condition_expression(cond: Any, closure: ConditionTest, names: ExpressionNames) -> str:
    """A Python expression (over V: the view, T: its text, H: its hostname, L: its list keys) for the condition."""
    fallback = f"{names.add(closure)}(V)"
    if cond.match_type == "hostname":
        needle = "" if cond.hostname is None else str(cond.hostname)
        op, negate = cond.hostname_match, cond.hostname_match_negate
        if op == "ignore":
            return "False" if negate else "True"
        if is_template(needle) or op == "string_in_list":
            return fallback
        expr = _text_expression(op, needle, "H", names)
        if expr is None:
            return fallback
        return f"not ({expr})" if negate else f"({expr})"
    lkey = (cond.attribute or "").strip().lower()
    if cond.attribute_match == "ignore" and cond.attribute_match_negate:
        return f"{names.add(lkey)} not in T"
    if cond.attribute_match != "equal" or cond.attribute_match_negate:
        return fallback
    needle = "" if cond.value is None else str(cond.value)
    op, negate = cond.value_match, cond.value_match_negate
    if is_template(needle):
        return fallback
    key = names.add(lkey)
    if op == "ignore":
        return "False" if negate else f"{key} in T"
    if op == "equal" and not negate:
        return f"T.get({key}) == {names.add(needle.strip().lower())}"
    if op in ("in", "not_in"):
        # a list value is matched element-wise by the closure; text values inline
        expr = _text_expression(op, needle, f"T[{key}]", names)
        return f"({key} in T and ({fallback} if {key} in L else {'not ' if negate else ''}({expr})))"
    if op == "string_in_list":
        return fallback
    expr = _text_expression(op, needle, f"T[{key}]", names)
    if expr is None:
        return fallback
    return f"({key} in T and {'not ' if negate else ''}({expr}))"
