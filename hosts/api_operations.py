"""The operations behind the hosts REST API: one host's labels and inventory, deletes, rules as JSON, accounts.

Re-exported by hosts.services (the app's one door). One host goes through the plugin object API
(`get_host`/`set_account`/`update_host`/`save`) so the API has exactly the plugins' semantics; many hosts
go through `import_rows` in one transaction.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from hosts import models
from hosts.errors import NotFound, OwnershipError
from hosts.models import Account, AccountCustomField, Host
from hosts.ownership import refusal
from syncsite.redact import MASK, redact_url


def _account(name: Any) -> Account:
    if not name:
        raise ValidationError({"account": "an account name is required"})
    account = Account.objects.filter(name=str(name)).first()
    if account is None:
        raise ValidationError({"account": f"account {name!r} does not exist"})
    if not account.enabled:
        raise ValidationError({"account": f"account {name!r} is disabled"})
    return account


@transaction.atomic
def upsert_host(account_name: str, hostname: str, labels: dict[str, Any]) -> tuple[Host, bool, bool]:
    """Create or update one host's labels for an account: (host, created, changed); OwnershipError when refused."""
    account = _account(account_name)
    host = Host.get_host(hostname)
    if not host:
        raise ValidationError({"hostname": f"invalid hostname {hostname!r}"})
    created = host.pk is None
    if not created:
        host = Host.objects.select_for_update(of=("self",)).select_related("account").get(pk=host.pk)
    account_before = host.account_id
    if not host.set_account(account_dict=account.as_config()):
        owner = host.account.name if host.account_id else None
        raise OwnershipError(refusal(host.hostname, locked=host.locked, owner_name=owner, claimant_name=account.name))
    changed = host.update_host(labels)
    host.save()
    return host, created, changed or created or account_before != host.account_id


def get_host_or_404(hostname: str) -> Host:
    """The host by name; NotFound (answered 404) when there is none."""
    host = Host.get_host(hostname, create=False)
    if not host:
        raise NotFound(f"no host {hostname!r}")
    return host


@transaction.atomic
def update_host_inventory(hostname: str, key: str, data: dict[str, Any]) -> tuple[Host, bool]:
    """Replace the inventory section `key` of one host (`{}` clears it): (host, changed)."""
    if not key or "__" in key:
        raise ValidationError({"key": "an inventory key without '__' is required"})
    host = get_host_or_404(hostname)
    changed = host.update_inventory(key, data)
    if changed:
        host.save()
    return host, changed


def delete_host(hostname: str) -> None:
    get_host_or_404(hostname).delete()


def account_rows() -> list[dict[str, Any]]:
    """Accounts for listings: settings and custom fields (secrets masked), the address without credentials."""
    from django.db.models import Count

    rows = []
    for account in Account.objects.annotate(host_count=Count("hosts")).prefetch_related("custom_fields"):
        fields = [
            f"{item['name']}={(MASK if item['is_set'] else '') if item['secret'] else item['value']}"
            for item in shown_fields(account)
        ]
        rows.append(
            {
                "name": account.name,
                "type": account.type,
                "address": redact_url(account.address),
                "master": account.is_master,
                "enabled": account.enabled,
                "hosts": account.host_count,
                "fields": ", ".join(fields) or "-",
            }
        )
    return rows


def shown_fields(account: Account) -> list[dict[str, Any]]:
    """An account's custom fields as they may be shown: a secret one says only whether it is set."""
    rows = []
    for item in account.custom_fields.all():
        secret = item.is_secret
        rows.append(
            {
                "name": item.name,
                "secret": secret,
                "is_set": item.is_set,
                "value": None if secret else item.value,
            }
        )
    return rows


def secure_declared_fields() -> int:
    """Encrypt stored custom fields that a plugin declares secret but were saved before it said so."""
    from hosts.accountfields import declared_secret_names

    converted = 0
    for account_type, names in declared_secret_names().items():
        if not names:
            continue
        pending = AccountCustomField.objects.filter(account__type=account_type, name__in=names, secret=False)
        with transaction.atomic():
            for field in pending.select_related("account").select_for_update(of=("self",)):
                field.save()
                converted += 1
    return converted


# --- rules as JSON ---------------------------------------------------------------------------------------------

RULE_MODELS: dict[str, tuple[type, type, type]] = {
    "custom_attributes": (models.CustomAttributeRule, models.CustomAttributeCondition, models.CustomAttributeOutcome),
    "rewrite": (models.RewriteRule, models.RewriteCondition, models.RewriteOutcome),
    "filter": (models.FilterRule, models.FilterCondition, models.FilterOutcome),
}
RULE_FIELDS = ["name", "enabled", "sort_order", "last_match", "condition_type"]
CONDITION_FIELDS = [
    "match_type",
    "hostname",
    "hostname_match",
    "hostname_match_negate",
    "attribute",
    "attribute_match",
    "attribute_match_negate",
    "value",
    "value_match",
    "value_match_negate",
]


def _outcome_fields(model: type) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.name not in ("id", "rule", "position")]


def rule_document(rule: Any) -> dict[str, Any]:
    """One rule as in the export document (conditions and outcomes in order); `id` only when saved."""
    outcome_fields = _outcome_fields(type(rule).outcomes.rel.related_model)
    return {
        "id": rule.pk,
        **{name: getattr(rule, name) for name in RULE_FIELDS},
        "conditions": [{name: getattr(c, name) for name in CONDITION_FIELDS} for c in rule.conditions.all()],
        "outcomes": [{name: getattr(o, name) for name in outcome_fields} for o in rule.outcomes.all()],
    }


def rule_queryset(kind: str) -> Any:
    if kind not in RULE_MODELS:
        raise NotFound(f"unknown rule kind {kind!r} (one of {', '.join(RULE_MODELS)})")
    return RULE_MODELS[kind][0].objects.prefetch_related("conditions", "outcomes").order_by("sort_order", "id")


def get_rule(kind: str, pk: Any) -> Any:
    """One rule of a kind with its conditions and outcomes; NotFound when the kind or the rule does not exist."""
    rule = rule_queryset(kind).filter(pk=pk).first()
    if rule is None:
        raise NotFound(f"no {kind} rule {pk}")
    return rule


def export_rules() -> dict[str, list[dict[str, Any]]]:
    """Every rule of the three kinds with its conditions and outcomes, in evaluation order (no ids)."""
    document: dict[str, list[dict[str, Any]]] = {}
    for kind in RULE_MODELS:
        document[kind] = []
        for rule in rule_queryset(kind):
            data = rule_document(rule)
            data.pop("id")
            document[kind].append(data)
    return document


def save_rule(kind: str, data: dict[str, Any], rule: Any = None) -> Any:
    """Create or replace one rule with its conditions and outcomes (validated with full_clean)."""
    if kind not in RULE_MODELS:
        raise ValidationError({"kind": f"unknown rule kind {kind!r} (one of {', '.join(RULE_MODELS)})"})
    rule_model, condition_model, outcome_model = RULE_MODELS[kind]
    if not isinstance(data, dict):
        raise ValidationError({"detail": f"a {kind} rule must be an object"})
    unknown = set(data) - {*RULE_FIELDS, "conditions", "outcomes", "id"}
    if unknown:
        raise ValidationError({"detail": f"unknown rule field(s): {', '.join(sorted(unknown))}"})
    with transaction.atomic():
        rule = rule or rule_model()
        for name in RULE_FIELDS:
            if name in data:
                setattr(rule, name, data[name])
        rule.full_clean()
        rule.save()
        for related, model, allowed in (
            ("conditions", condition_model, CONDITION_FIELDS),
            ("outcomes", outcome_model, _outcome_fields(outcome_model)),
        ):
            if related not in data:
                continue
            items = data[related]
            if not isinstance(items, list):
                raise ValidationError({related: "must be a list"})
            getattr(rule, related).all().delete()
            for position, item in enumerate(items):
                if not isinstance(item, dict) or set(item) - set(allowed):
                    extra = sorted(set(item) - set(allowed)) if isinstance(item, dict) else "not an object"
                    raise ValidationError({related: f"item {position}: unknown field(s) {extra}"})
                obj = model(rule=rule, position=position, **item)
                obj.full_clean()
                obj.save()
    return rule


@transaction.atomic
def import_rules(document: dict[str, Any], *, replace: bool = False) -> dict[str, int]:
    """Load an `export_rules` document in one transaction; with `replace` the existing rules go first."""
    if not isinstance(document, dict) or not set(document) <= set(RULE_MODELS):
        raise ValidationError({"detail": f"expected an object with keys among {', '.join(RULE_MODELS)}"})
    counts = {}
    for kind, rules in document.items():
        if not isinstance(rules, list):
            raise ValidationError({kind: "must be a list of rules"})
        if replace:
            RULE_MODELS[kind][0].objects.all().delete()
        for index, data in enumerate(rules):
            try:
                save_rule(kind, data)
            except ValidationError as exc:
                raise ValidationError({f"{kind}[{index}]": exc.messages}) from exc
        counts[kind] = len(rules)
    return counts


# --- cronjobs ------------------------------------------------------------------------------------------------


def cronjob_status() -> list[dict[str, Any]]:
    """Every registered cronjob with whether it runs now and its last recorded run (three queries)."""
    from django.db.models import Max

    from hosts.cronjobs import registered_cronjobs
    from hosts.models import CronjobLock, CronjobRun

    names = list(registered_cronjobs())
    last_ids = CronjobRun.objects.filter(job__in=names).values("job").annotate(last=Max("id")).values("last")
    last_runs = {run.job: run for run in CronjobRun.objects.filter(pk__in=last_ids)}
    running = set(CronjobLock.objects.filter(job__in=names).values_list("job", flat=True))
    return [{"name": name, "running": name in running, "last_run": last_runs.get(name)} for name in names]


def queue_cronjob(job: str, account: str | None = None, *, schedule: str | None = None) -> str:
    """Queue a run of a cronjob (django-q2) once the caller's transaction commits.

    Enqueued on `transaction.on_commit`, so a run never starts before, or without, what the caller wrote. Returns
    the task id when it was enqueued at once (no transaction open, as in the API and the admin), "" when it waits
    for the caller's transaction. A job asked for by name is checked first (LookupError: no such job or account);
    the run of a stored `schedule` runs its call as the scheduler would (checked when it was saved) and is filed
    under the schedule's name.
    """
    from django.db import transaction
    from django_q.tasks import async_task

    from hosts.cronjobs import registered_cronjobs

    if schedule is None:
        if job not in registered_cronjobs():
            raise LookupError(f"no cronjob named {job!r} is registered")
        if account is not None and not Account.objects.filter(name=account).exists():
            raise LookupError(f"account {account!r} does not exist")
    options = {"group": schedule} if schedule else {}
    queued: list[str] = []

    def enqueue() -> None:
        task = async_task("hosts.tasks.run_cronjob", job, account, task_name=f"cronjob {job}"[:100], **options)
        queued.append(str(task))

    transaction.on_commit(enqueue)
    return queued[0] if queued else ""
