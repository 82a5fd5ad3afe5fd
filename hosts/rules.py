"""The rule engine: custom attributes -> rewrite -> filter, compiled once per run.

Rules are loaded with one query per model (rules, conditions, outcomes) and turned into plain
Python closures: regexes compiled, needles lowercased and split, Jinja templates compiled once.
Evaluating a host then touches no database and no ORM object.

Matching is case-insensitive everywhere: keys and values are compared lowercased, regexes are
compiled with re.IGNORECASE and anchored at the start (re.match). Values that are lists match
`in` / `not_in` / `string_in_list` element-wise.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hosts.jinja import compile_template, is_template

logger = logging.getLogger(__name__)

TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
_MISSING = object()

ValueTest = Callable[[Any, dict[str, Any]], bool]
ConditionTest = Callable[[str, dict[str, Any], dict[str, Any]], bool]


class RuleError(ValueError):
    """A rule that cannot be compiled (bad regex, bad template, unknown operator)."""


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    return str(value).strip().lower() in TRUE_WORDS


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.lower()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower()


def _raw(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else str(value)


def _static_test(op: str, needle: str) -> Callable[[Any], bool]:
    """A one-argument predicate for a needle known at compile time."""
    n = needle.lower()
    if op == "equal":
        return lambda v: _text(v) == n
    if op == "in":
        return lambda v: (n in [_text(x) for x in v]) if isinstance(v, list) else (n in _text(v))
    if op == "not_in":
        return lambda v: (n not in [_text(x) for x in v]) if isinstance(v, list) else (n not in _text(v))
    if op == "in_list":
        items = frozenset(x.strip() for x in n.split(","))
        return lambda v: _text(v).strip() in items
    if op == "string_in_list":
        n = n.strip()
        return lambda v: (
            n in ([_text(x).strip() for x in v] if isinstance(v, list) else [x.strip() for x in _text(v).split(",")])
        )
    if op == "swith":
        return lambda v: _text(v).startswith(n)
    if op == "ewith":
        return lambda v: _text(v).endswith(n)
    if op == "regex":
        try:
            pattern = re.compile(needle, re.IGNORECASE)
        except re.error as exc:
            raise RuleError(f"invalid regular expression {needle!r}: {exc}") from exc
        return lambda v: pattern.match(_raw(v)) is not None
    if op == "bool":
        wanted = to_bool(needle)
        return lambda v: to_bool(v) == wanted
    if op == "ignore":
        return lambda v: True
    raise RuleError(f"unknown operator {op!r}")


def value_test(op: str, needle: Any, negate: bool) -> ValueTest:
    """A predicate (value, context) -> bool; the context renders Jinja needles per host."""
    needle = "" if needle is None else str(needle)
    if op == "ignore":
        result = not negate
        return lambda v, ctx: result
    if is_template(needle):
        try:
            template = compile_template(needle)
        except Exception as exc:
            raise RuleError(f"invalid Jinja template {needle!r}: {exc}") from exc

        def dynamic(v: Any, ctx: dict[str, Any]) -> bool:
            return _static_test(op, template.render(**ctx))(v) is not negate

        _static_test(op, "")  # validate the operator now rather than per host
        return dynamic
    test = _static_test(op, needle)
    if negate:
        return lambda v, ctx: not test(v)
    return lambda v, ctx: test(v)


def compile_condition(cond: Any) -> ConditionTest:
    """Condition (model instance or anything with the same attributes) -> test(hostname, attrs, lower_attrs)."""
    if cond.match_type == "hostname":
        host_test = value_test(cond.hostname_match, cond.hostname, cond.hostname_match_negate)
        return lambda hostname, attrs, lattrs: host_test(hostname, attrs)

    key = (cond.attribute or "").strip()
    lkey = key.lower()
    val_test = value_test(cond.value_match, cond.value, cond.value_match_negate)
    if cond.attribute_match == "ignore" and cond.attribute_match_negate:
        # "no key named X": true when the attribute is absent
        return lambda hostname, attrs, lattrs: lkey not in lattrs
    if cond.attribute_match == "equal" and not cond.attribute_match_negate:

        def by_key(hostname: str, attrs: dict[str, Any], lattrs: dict[str, Any]) -> bool:
            value = lattrs.get(lkey, _MISSING)
            return value is not _MISSING and val_test(value, attrs)

        return by_key
    key_test = value_test(cond.attribute_match, key, cond.attribute_match_negate)

    def scan(hostname: str, attrs: dict[str, Any], lattrs: dict[str, Any]) -> bool:
        return any(key_test(k, attrs) and val_test(v, attrs) for k, v in lattrs.items())

    return scan


@dataclass(slots=True)
class CompiledRule:
    id: int
    name: str
    condition_type: str
    last_match: bool
    conditions: list[ConditionTest]
    outcomes: list[Any]
    descriptions: list[str] = field(default_factory=list)

    def hit(self, hostname: str, attrs: dict[str, Any], lattrs: dict[str, Any]) -> tuple[bool, str | None]:
        """Whether the rule matches, and (for debugging) the first condition that decided a miss."""
        if self.condition_type == "anyway":
            return True, None
        if self.condition_type == "any":
            for test in self.conditions:
                if test(hostname, attrs, lattrs):
                    return True, None
            return False, "no condition matched"
        for index, test in enumerate(self.conditions):
            if not test(hostname, attrs, lattrs):
                return False, self.descriptions[index] if index < len(self.descriptions) else "condition failed"
        return True, None


def _context(hostname: str, attrs: dict[str, Any]) -> dict[str, Any]:
    return {**attrs, "HOSTNAME": hostname}


def matching(
    rules: list[CompiledRule], hostname: str, attrs: dict[str, Any], debug: list[dict] | None = None, phase: str = ""
) -> list[CompiledRule]:
    """Rules that match, in order, stopping after a matching rule with last_match set."""
    lattrs = {k.lower(): v for k, v in attrs.items()}
    ctx = _context(hostname, attrs)
    hits: list[CompiledRule] = []
    for rule in rules:
        hit, reason = rule.hit(hostname, ctx, lattrs)
        if debug is not None:
            debug.append(
                {
                    "phase": phase,
                    "rule": rule.name,
                    "id": rule.id,
                    "condition_type": rule.condition_type,
                    "hit": hit,
                    "reason": reason,
                    "last_match": rule.last_match,
                }
            )
        if hit:
            hits.append(rule)
            if rule.last_match:
                break
    return hits


# --- outcomes --------------------------------------------------------------------------------------------


def _text_or_template(source: str) -> Callable[[dict[str, Any]], str]:
    if is_template(source):
        try:
            template = compile_template(source)
        except Exception as exc:
            raise RuleError(f"invalid Jinja template {source!r}: {exc}") from exc
        return lambda ctx: template.render(**ctx)
    return lambda ctx: source


def _rewriter(mode: str, spec: str) -> Callable[[Any, dict[str, Any]], Any] | None:
    """mode keep/string/jinja/split -> f(old, context) -> new; None for keep."""
    if mode == "keep":
        return None
    if mode == "string":
        return lambda old, ctx: spec
    if mode == "jinja":
        render = _text_or_template(spec)
        return lambda old, ctx: render(ctx)
    if mode == "split":
        separator, _, index_text = spec.rpartition(":")
        try:
            index = int(index_text)
        except ValueError as exc:
            raise RuleError(f"split needs 'SEPARATOR:INDEX', got {spec!r}") from exc
        sep = separator or None

        def split(old: Any, ctx: dict[str, Any]) -> str:
            parts = _raw(old).split(sep)
            try:
                return parts[index].strip()
            except IndexError:
                return ""

        return split
    raise RuleError(f"unknown rewrite mode {mode!r}")


@dataclass(slots=True)
class RewriteAction:
    attribute: str
    key: Callable[[Any, dict[str, Any]], Any] | None
    value: Callable[[Any, dict[str, Any]], Any] | None

    def apply(self, hostname: str, attrs: dict[str, Any]) -> None:
        key = self.attribute
        if key not in attrs:
            lowered = key.lower()
            key = next((k for k in attrs if k.lower() == lowered), None)
            if key is None:
                return
        old_value = attrs[key]
        ctx = {**attrs, "HOSTNAME": hostname, "name": key, "value": old_value}
        new_key = key if self.key is None else str(self.key(key, ctx)).strip()
        new_value = old_value if self.value is None else self.value(old_value, ctx)
        del attrs[key]
        if new_key:
            attrs[new_key] = new_value


@dataclass(slots=True)
class FilterSet:
    """The whitelist built from the filter outcomes that matched a host."""

    keys: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)
    values: dict[str, set[str]] = field(default_factory=dict)
    ignore: bool = False

    def add(self, action: str, attribute: str, value: str) -> None:
        if action == "ignore_host":
            self.ignore = True
        elif action == "whitelist_attribute":
            attribute = attribute.strip()
            if attribute.endswith("*"):
                self.prefixes.append(attribute[:-1].lower())
            elif attribute:
                self.keys.add(attribute.lower())
        elif action == "whitelist_attribute_value":
            wanted = {x.strip().lower() for x in value.split(",")}
            self.values.setdefault(attribute.strip().lower(), set()).update(wanted)

    def apply(self, attrs: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        prefixes = tuple(self.prefixes)
        for key, value in attrs.items():
            lkey = key.lower()
            if (
                lkey in self.keys
                or (prefixes and lkey.startswith(prefixes))
                or (lkey in self.values and _text(value).strip() in self.values[lkey])
            ):
                result[key] = value
        return result


def _describe(cond: Any) -> str:
    return str(cond)


def compile_rule(rule: Any, kind: str) -> CompiledRule:
    """Compile one rule with its prefetched conditions and outcomes; raises RuleError when it is broken."""
    conditions = list(rule.conditions.all())
    outcomes: list[Any] = []
    for out in rule.outcomes.all():
        if kind == "custom":
            outcomes.append((out.attribute.strip(), _text_or_template(out.value)))
        elif kind == "rewrite":
            outcomes.append(
                RewriteAction(
                    attribute=out.attribute.strip(),
                    key=_rewriter(out.key_mode, out.new_key),
                    value=_rewriter(out.value_mode, out.new_value),
                )
            )
        else:
            outcomes.append((out.action, out.attribute, out.value))
    return CompiledRule(
        id=rule.pk,
        name=rule.name,
        condition_type=rule.condition_type,
        last_match=rule.last_match,
        conditions=[compile_condition(c) for c in conditions],
        outcomes=outcomes,
        descriptions=[_describe(c) for c in conditions],
    )


@dataclass
class RuleEngine:
    """Every enabled rule, compiled, plus the rules version it was loaded at."""

    version: int
    custom: list[CompiledRule]
    rewrite: list[CompiledRule]
    filter: list[CompiledRule]
    errors: list[str] = field(default_factory=list)

    def compute(self, hostname: str, labels: dict[str, Any], inventory: dict[str, Any], debug: list | None = None):
        """{'all': ..., 'filtered': ..., 'ignore': bool} for one host's labels and inventory."""
        attrs: dict[str, Any] = {**labels, **inventory}
        if self.custom:
            added: dict[str, Any] = {}
            for rule in matching(self.custom, hostname, attrs, debug, "custom_attributes"):
                ctx = _context(hostname, attrs)
                for key, render in rule.outcomes:
                    if key:
                        added[key] = render(ctx)
            attrs.update(added)
        if self.rewrite:
            for rule in matching(self.rewrite, hostname, attrs, debug, "rewrite"):
                for action in rule.outcomes:
                    action.apply(hostname, attrs)
        attrs["HOSTNAME"] = hostname
        filtered: dict[str, Any] = {}
        ignore = False
        if self.filter:
            hits = matching(self.filter, hostname, attrs, debug, "filter")
            if hits:
                whitelist = FilterSet()
                for rule in hits:
                    for action, attribute, value in rule.outcomes:
                        whitelist.add(action, attribute, value)
                ignore = whitelist.ignore
                filtered = whitelist.apply(attrs)
        return {"all": attrs, "filtered": filtered, "ignore": ignore}


def _compile_all(queryset, kind: str, errors: list[str]) -> list[CompiledRule]:
    compiled = []
    for rule in queryset:
        try:
            compiled.append(compile_rule(rule, kind))
        except RuleError as exc:
            message = f"{kind} rule {rule.name!r} (id {rule.pk}) is skipped: {exc}"
            logger.error(message)
            errors.append(message)
    return compiled


def load_engine() -> RuleEngine:
    """Read the rules version, then every enabled rule with one query per model."""
    from hosts.models import CustomAttributeRule, FilterRule, RewriteRule, RulesState

    version = RulesState.objects.filter(pk=1).values_list("version", flat=True).first() or 0
    errors: list[str] = []

    def enabled(model):
        return (
            model.objects.filter(enabled=True).order_by("sort_order", "id").prefetch_related("conditions", "outcomes")
        )

    return RuleEngine(
        version=version,
        custom=_compile_all(enabled(CustomAttributeRule), "custom", errors),
        rewrite=_compile_all(enabled(RewriteRule), "rewrite", errors),
        filter=_compile_all(enabled(FilterRule), "filter", errors),
        errors=errors,
    )
