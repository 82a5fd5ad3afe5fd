"""Read-only queries behind the hosts pages (`/hosts/`): the filtered, sorted, paged list and a host's detail.

A fixed number of queries per page whatever its size (the count, the page's rows with their account and
HostSeen mark). Label filters use the labels index on PostgreSQL (`@>` and `?` on jsonb, GIN); SQLite compares
the key's text. Writes stay in `hosts.services`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connection
from django.db.models import Max, Q, QuerySet, TextField
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from hosts.models import Account, CronjobRun, CustomAttributeRule, FilterRule, Host, LogEntry, RewriteRule
from hosts.plugin import explain_host
from hosts.rules import RuleEngine, RuleError, compile_rule

PAGE_SIZE = 50
MAX_LABEL_TERMS = 10
SORTS = {
    "name": ("hostname",),
    "-name": ("-hostname",),
    "account": ("account__name", "hostname"),
    "-account": ("-account__name", "hostname"),
    "seen": ("last_import_seen", "hostname"),
    "-seen": ("-last_import_seen", "hostname"),
    "stale": ("-stale", "hostname"),
}
RULE_KINDS = {"custom": CustomAttributeRule, "rewrite": RewriteRule, "filter": FilterRule}


class FilterError(ValueError):
    """A filter term the list cannot use (the page answers 400 and says which)."""


@dataclass
class HostFilter:
    """What `?label=K=V&label=K&account=&q=&stale=1&sort=` asks for, validated."""

    labels: list[tuple[str, str | None]] = field(default_factory=list)
    account: str = ""
    q: str = ""
    stale: bool = False
    sort: str = "name"

    @classmethod
    def from_query(cls, query: Any) -> HostFilter:
        """Parse a QueryDict; FilterError for terms that are too many, too long or empty."""
        terms = [t.strip() for t in query.getlist("label") if t.strip()]
        if len(terms) > MAX_LABEL_TERMS:
            raise FilterError(f"at most {MAX_LABEL_TERMS} label filters")
        labels: list[tuple[str, str | None]] = []
        for term in terms:
            if len(term) > 500:
                raise FilterError("a label filter is at most 500 characters")
            key, sep, value = term.partition("=")
            if not key.strip():
                raise FilterError(f"label filter {term!r} has no key (use KEY=VALUE or KEY)")
            labels.append((key.strip(), value if sep else None))
        sort = query.get("sort") or "name"
        if sort not in SORTS:
            raise FilterError(f"sort must be one of {', '.join(SORTS)}")
        q, account = (query.get("q") or "").strip(), (query.get("account") or "").strip()
        if len(q) > 255 or len(account) > 200:
            raise FilterError("name search and account are at most 255 characters")
        return cls(labels=labels, account=account, q=q, stale=query.get("stale") in {"1", "true", "on"}, sort=sort)


def _label_filters(qs: QuerySet, labels: list[tuple[str, str | None]]) -> QuerySet:
    """AND of the label terms. PostgreSQL: the KEY=VALUE terms as one `labels @> {...}` (the GIN index), a
    numeric value also matching the number; `?` for KEY. SQLite: the key's text compared, `has_key` for KEY."""
    if connection.vendor == "postgresql":
        together: dict[str, str] = {}
        for key, value in labels:
            if value is None:
                qs = qs.filter(labels__has_key=key)
            elif value.lstrip("-").isdigit():  # labels imported as numbers match their digits too
                qs = qs.filter(Q(labels__contains={key: value}) | Q(labels__contains={key: int(value)}))
            elif key in together and together[key] != value:
                return qs.none()
            else:
                together[key] = value
        return qs.filter(labels__contains=together) if together else qs
    for index, (key, value) in enumerate(labels):
        if value is None:
            qs = qs.filter(labels__has_key=key)
        else:  # the key's text (numbers as their digits), compared as text
            alias = f"_label{index}"
            qs = qs.alias(**{alias: Cast(KeyTextTransform(key, "labels"), TextField())}).filter(**{alias: value})
    return qs


def host_queryset(flt: HostFilter) -> QuerySet:
    """Hosts (not other objects) matching the filter, in the asked order, with their account joined."""
    qs = Host.objects.filter(is_object=False).select_related("account").defer("cache", "log", "inventory")
    qs = _label_filters(qs, flt.labels)
    if flt.account:
        qs = qs.filter(account__name=flt.account)
    if flt.q:
        qs = qs.filter(hostname__icontains=flt.q.lower())
    if flt.stale:
        qs = qs.filter(stale=True)
    order = SORTS[flt.sort]
    if any("last_import_seen" in o for o in order):
        qs = qs.with_seen()
    return qs.order_by(*order)


def host_page(flt: HostFilter, number: Any = 1) -> Page:
    """One page of hosts (two queries: the count and the rows)."""
    return Paginator(host_queryset(flt), PAGE_SIZE).get_page(number)


def account_names() -> list[str]:
    return list(Account.objects.order_by("name").values_list("name", flat=True))


def host_detail(hostname: str) -> dict[str, Any] | None:
    """A host with what the rules make of it, rule by rule (what `syncer debug-host` prints); None if unknown."""
    host = Host.objects.select_related("account").filter(hostname=hostname).first()
    if host is None:
        return None
    explained = explain_host(host)
    return {"host": host, **explained}


def try_rule(kind: str, rule_id: int, hostname: str) -> dict[str, Any]:
    """The outcome of one rule (saved, enabled or not yet) on one host, alone in its phase, nothing written.

    Raises LookupError for an unknown rule or host and RuleError when the rule does not compile.
    """
    model = RULE_KINDS.get(kind)
    if model is None:
        raise LookupError(f"rule kind must be one of {', '.join(RULE_KINDS)}")
    rule = model.objects.prefetch_related("conditions", "outcomes").filter(pk=rule_id).first()
    if rule is None:
        raise LookupError(f"no {kind} rule {rule_id}")
    host = Host.objects.filter(hostname=hostname).first()
    if host is None:
        raise LookupError(f"no host {hostname!r}")
    compiled = compile_rule(rule, kind)
    engine = RuleEngine(
        version=0,
        custom=[compiled] if kind == "custom" else [],
        rewrite=[compiled] if kind == "rewrite" else [],
        filter=[compiled] if kind == "filter" else [],
    )
    explained = explain_host(host, engine)
    return {"rule": rule, "host": host, **explained}


class _Related:
    """What compile_rule reads of a rule's related managers (`.all()`), for a rule that is not saved."""

    def __init__(self, items: list) -> None:
        self._items = items

    def all(self) -> list:
        return self._items


@dataclass
class DraftRule:
    """A custom attribute rule typed into the tester: one condition, one outcome, never saved."""

    condition_type: str = "all"
    match_type: str = "attribute"
    hostname: str = ""
    hostname_match: str = "equal"
    attribute: str = ""
    attribute_match: str = "equal"
    value: str = ""
    value_match: str = "equal"
    set_attribute: str = ""
    set_value: str = ""

    def as_rule(self) -> Any:
        """Unsaved model instances shaped as compile_rule reads them; ValidationError on a bad choice."""
        from types import SimpleNamespace

        from hosts.models import CustomAttributeCondition, CustomAttributeOutcome

        condition = CustomAttributeCondition(
            match_type=self.match_type,
            hostname=self.hostname,
            hostname_match=self.hostname_match,
            attribute=self.attribute,
            attribute_match=self.attribute_match,
            value=self.value,
            value_match=self.value_match,
        )
        condition.full_clean(exclude=["rule"])
        outcome = CustomAttributeOutcome(attribute=self.set_attribute, value=self.set_value)
        outcome.full_clean(exclude=["rule"])
        if self.condition_type not in {"all", "any", "anyway"}:
            raise RuleError("condition type must be all, any or anyway")
        conditions = [] if self.condition_type == "anyway" else [condition]
        return SimpleNamespace(
            pk=None,
            name="draft rule",
            condition_type=self.condition_type,
            last_match=False,
            conditions=_Related(conditions),
            outcomes=_Related([outcome]),
        )


def try_draft_rule(draft: DraftRule, hostname: str) -> dict[str, Any]:
    """The outcome of a rule that is not saved yet on one host: nothing is written (not even the rule).

    Raises LookupError for an unknown host, RuleError or ValidationError for a rule that cannot work.
    """
    host = Host.objects.filter(hostname=hostname).first()
    if host is None:
        raise LookupError(f"no host {hostname!r}")
    rule = draft.as_rule()
    compiled = compile_rule(rule, "custom")
    explained = explain_host(host, RuleEngine(version=0, custom=[compiled], rewrite=[], filter=[]))
    return {"rule": rule, "host": host, **explained}


def rule_choices() -> list[tuple[str, str]]:
    """Every rule as ("kind:id", "kind: name (disabled)") for the tester's picker."""
    choices = []
    for kind, model in RULE_KINDS.items():
        for pk, name, enabled in model.objects.order_by("sort_order", "id").values_list("pk", "name", "enabled"):
            choices.append((f"{kind}:{pk}", f"{kind}: {name}{'' if enabled else ' (disabled)'}"))
    return choices


def accounts_overview() -> list[dict[str, Any]]:
    """Accounts with their host count and the last cronjob run filed under their name (three queries)."""
    from hosts.services import account_rows

    rows = account_rows()
    last_ids = CronjobRun.objects.exclude(account="").values("account").annotate(last=Max("id")).values("last")
    last = {run.account: run for run in CronjobRun.objects.filter(pk__in=last_ids).defer("log", "traceback")}
    for row in rows:
        row["last_run"] = last.get(row["name"])
    return rows


def recent_runs(limit: int = 20) -> list[LogEntry]:
    """The newest plugin run log entries (imports and exports)."""
    return list(LogEntry.objects.order_by("-created", "-id")[:limit])


__all__ = [
    "DraftRule",
    "FilterError",
    "HostFilter",
    "RuleError",
    "account_names",
    "accounts_overview",
    "host_detail",
    "host_page",
    "host_queryset",
    "recent_runs",
    "rule_choices",
    "try_draft_rule",
    "try_rule",
]
