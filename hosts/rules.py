"""The rule engine: custom attributes -> rewrite -> filter, compiled once per run.

Rules are loaded with one query per model (rules, conditions, outcomes). Each condition becomes a
closure (regexes compiled, needles lowercased and split, Jinja templates compiled), and each phase
becomes one generated function that inlines the common conditions; the closures serve debugging
and anything unusual. Evaluating a host then touches no database and no ORM object.

What each condition operator means (and how it is matched case-insensitively) lives in
hosts.rule_conditions; this module applies rules: it compiles them, generates the phase functions,
renders and applies the outcomes. RuleError and compile_condition are re-exported from here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hosts.jinja import is_template
from hosts.rule_conditions import (
    ConditionTest,
    ExpressionNames,
    HostView,
    Renderer,
    RuleError,
    combine_conditions,
    comparable_text,
    compile_condition,
    condition_expression,
    renderer,
)

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class CompiledRule:
    id: int
    name: str
    condition_type: str
    last_match: bool
    conditions: list[ConditionTest]
    outcomes: list[Any]
    descriptions: list[str] = field(default_factory=list)
    test: ConditionTest | None = None
    sources: list[Any] = field(default_factory=list)

    def explain(self, view: HostView) -> tuple[bool, str | None]:
        """Whether the rule matches, and the condition that decided a miss (for debug_rules)."""
        if self.condition_type == "anyway":
            return True, None
        results = [test(view) for test in self.conditions]
        if self.condition_type == "any":
            return (True, None) if any(results) else (False, "no condition matched")
        for index, ok in enumerate(results):
            if not ok:
                return False, self.descriptions[index]
        return True, None


def rule_expression(rule: CompiledRule, names: ExpressionNames) -> str:
    if rule.condition_type == "anyway":
        return "True"
    if not rule.conditions:
        return "False" if rule.condition_type == "any" else "True"
    joiner = " or " if rule.condition_type == "any" else " and "
    parts = [condition_expression(src, test, names) for src, test in zip(rule.sources, rule.conditions, strict=True)]
    return joiner.join(f"({expr})" for expr in parts)


def compile_phase(rules: list[CompiledRule], phase: str) -> Callable[[HostView], list[CompiledRule]]:
    """One function view -> matching rules (in order, honouring last_match) for a list of rules."""
    names = ExpressionNames()
    lines = ["def _match(V):", "    T = V.text", "    H = V.hostname", "    L = V.lists", "    hits = []"]
    for rule in rules:
        ref = names.add(rule)
        lines.append(f"    if {rule_expression(rule, names)}:")
        lines.append(f"        hits.append({ref})")
        if rule.last_match:
            lines.append("        return hits")
    lines.append("    return hits")
    return _build(lines, names, phase)


def compile_custom_phase(rules: list[CompiledRule]) -> Callable[[HostView, dict, Any], None]:
    """Custom attribute rules: matching and the outcomes inline; fills A with key -> (lowered key, value).

    Outcomes render against C (the host's attributes before this phase), so doing them as soon as a
    rule matches gives the same result as matching first and applying after.
    """
    names = ExpressionNames()
    lines = ["def _match(V, A, C):", "    T = V.text", "    H = V.hostname", "    L = V.lists"]
    for rule in rules:
        lines.append(f"    if {rule_expression(rule, names)}:")
        lines.extend(
            f"        A[{names.add(key)}] = ({names.add(lkey)}, "
            + (f"{names.add(value)})" if type(value) is str else f"{names.add(value)}(C))")
            for key, lkey, value in rule.outcomes
        )
        lines.append("        pass")
        if rule.last_match:
            lines.append("        return")
    return _build(lines, names, "custom_attributes")


def _build(lines: list[str], names: ExpressionNames, phase: str):
    namespace = dict(names.namespace)
    exec(compile("\n".join(lines), f"<hosts rules: {phase}>", "exec"), namespace)  # noqa: S102 - no user text in it
    return namespace["_match"]


def matching(
    rules: list[CompiledRule], view: HostView, debug: list[dict] | None = None, phase: str = ""
) -> list[CompiledRule]:
    """Rules that match, in order, stopping after a matching rule with last_match set."""
    hits: list[CompiledRule] = []
    if debug is None:
        for rule in rules:
            test = rule.test
            if test is None or test(view):
                hits.append(rule)
                if rule.last_match:
                    break
        return hits
    for rule in rules:
        hit, reason = rule.explain(view)
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


# kept for the admin's validation
_text_or_template = renderer


def _raw(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None else str(value)


def _rewriter(mode: str, spec: str) -> Callable[[Any, dict[str, Any] | None], Any] | None:
    """mode keep/string/jinja/split -> f(old, context) -> new; None for keep."""
    if mode == "keep":
        return None
    if mode == "string":
        return lambda old, ctx: spec
    if mode == "jinja":
        render = renderer(spec)
        return lambda old, ctx: render(ctx)
    if mode == "split":
        separator, _, index_text = spec.rpartition(":")
        try:
            index = int(index_text)
        except ValueError as exc:
            raise RuleError(f"split needs 'SEPARATOR:INDEX', got {spec!r}") from exc
        sep = separator or None

        def split(old: Any, ctx: dict[str, Any] | None) -> str:
            parts = _raw(old).split(sep)
            try:
                return parts[index].strip()
            except IndexError:
                return ""

        return split
    raise RuleError(f"unknown rewrite mode {mode!r}")


@dataclass(slots=True)
class RewriteAction:
    attribute: str  # lowercased
    key: Callable[[Any, dict[str, Any] | None], Any] | None
    value: Callable[[Any, dict[str, Any] | None], Any] | None
    needs_context: bool = False

    def apply(self, view: HostView) -> None:
        key = view.keys.get(self.attribute)
        if key is None:
            return
        old_value = view.attrs[key]
        ctx = {**view.attrs, "name": key, "value": old_value} if self.needs_context else None
        new_key = key if self.key is None else str(self.key(key, ctx)).strip()
        new_value = old_value if self.value is None else self.value(old_value, ctx)
        if new_key == key:
            if new_value is old_value or new_value == old_value:
                return
        else:
            view.remove(key)
            if not new_key:
                return
        view.put(new_key, new_value)


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
                or (lkey in self.values and comparable_text(value).strip() in self.values[lkey])
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
            value, key = out.value, out.attribute.strip()
            if key:
                outcomes.append((key, key.lower(), Renderer(value) if is_template(value) else value))
        elif kind == "rewrite":
            outcomes.append(
                RewriteAction(
                    attribute=out.attribute.strip().lower(),
                    key=_rewriter(out.key_mode, out.new_key),
                    value=_rewriter(out.value_mode, out.new_value),
                    needs_context="jinja" in (out.key_mode, out.value_mode),
                )
            )
        else:
            outcomes.append((out.action, out.attribute, out.value))
    tests = [compile_condition(c) for c in conditions]
    return CompiledRule(
        id=rule.pk,
        name=rule.name,
        condition_type=rule.condition_type,
        last_match=rule.last_match,
        conditions=tests,
        outcomes=outcomes,
        descriptions=[_describe(c) for c in conditions],
        test=combine_conditions(rule.condition_type, tests),
        sources=conditions,
    )


@dataclass
class RuleEngine:
    """Every enabled rule, compiled, plus the rules version it was loaded at."""

    version: int
    custom: list[CompiledRule]
    rewrite: list[CompiledRule]
    filter: list[CompiledRule]
    errors: list[str] = field(default_factory=list)
    generated: bool = True  # False: evaluate with the closures only (the generated code is checked against it)

    def __post_init__(self) -> None:
        def phase(rules: list[CompiledRule], name: str):
            if not rules:
                return None
            if self.generated:
                return compile_phase(rules, name)
            return lambda view: matching(rules, view)

        self._custom = phase(self.custom, "custom_attributes")
        self._custom_inline = compile_custom_phase(self.custom) if self.generated and self.custom else None
        self._rewrite = phase(self.rewrite, "rewrite")
        self._filter = phase(self.filter, "filter")

    def _hits(self, rules, fast, view, debug, phase) -> list[CompiledRule]:
        if debug is None:
            return fast(view)
        return matching(rules, view, debug, phase)

    def compute(self, hostname: str, labels: dict[str, Any], inventory: dict[str, Any], debug: list | None = None):
        """{'all': ..., 'filtered': ..., 'ignore': bool} for one host's labels and inventory."""
        attrs: dict[str, Any] = {**labels, **inventory, "HOSTNAME": hostname}
        view = HostView(hostname, attrs)
        if self.custom:
            added: dict[str, tuple[str, Any]] = {}
            if self._custom_inline is not None and debug is None:
                self._custom_inline(view, added, view.ctx())
            else:
                ctx = view.ctx()
                for rule in self._hits(self.custom, self._custom, view, debug, "custom_attributes"):
                    for key, lkey, value in rule.outcomes:
                        added[key] = (lkey, value if type(value) is str else value(ctx))
                        if debug is not None:
                            _note_change(debug, "custom_attributes", rule, key, attrs.get(key), added[key][1])
            if added:
                put = view.put
                for key, (lkey, value) in added.items():
                    put(key, value, lkey)
        if self.rewrite:
            for rule in self._hits(self.rewrite, self._rewrite, view, debug, "rewrite"):
                before = dict(attrs) if debug is not None else None
                for action in rule.outcomes:
                    action.apply(view)
                if before is not None:
                    for key in sorted(set(before) | set(attrs)):
                        if before.get(key, _ABSENT) != attrs.get(key, _ABSENT):
                            _note_change(debug, "rewrite", rule, key, before.get(key), attrs.get(key))
        view.put("HOSTNAME", hostname)
        filtered: dict[str, Any] = {}
        ignore = False
        if self.filter:
            hits = self._hits(self.filter, self._filter, view, debug, "filter")
            if hits:
                whitelist = FilterSet()
                for rule in hits:
                    for action, attribute, value in rule.outcomes:
                        whitelist.add(action, attribute, value)
                        if debug is not None:
                            _note_change(
                                debug, "filter", rule, attribute or "(host)", None, f"{action} {value}".strip()
                            )
                ignore = whitelist.ignore
                filtered = whitelist.apply(attrs)
        return {"all": attrs, "filtered": filtered, "ignore": ignore}


_ABSENT = object()


def _note_change(debug: list[dict], phase: str, rule: CompiledRule, key: str, old: Any, new: Any) -> None:
    """In debug mode, what a matched rule changed: appended to its row as {"key", "old", "new"}."""
    for row in reversed(debug):
        if row["phase"] == phase and row["id"] == rule.id:
            row.setdefault("changes", []).append({"key": key, "old": old, "new": new})
            return


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

    version = RulesState.current_version()
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
