"""The only door into hosts: other apps and the views call these functions, never the models directly.

The dashboard counts, accounts, the run log and the rules version are written here; the bulk import
(hosts.importing) and the operations behind the REST API (hosts.api_operations) are parts of this door,
imported from here. Errors are hosts.errors (HostsError and its subclasses, NotFound among them), which the
API layer answers with their HTTP status. Plugins use syncerapi.v1 (which re-exports from here and from
hosts.models/hosts.plugin).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from hosts import conf
from hosts.api_operations import (
    account_rows,
    cronjob_status,
    delete_host,
    export_rules,
    get_host_or_404,
    get_rule,
    import_rules,
    queue_cronjob,
    rule_document,
    rule_queryset,
    save_rule,
    secure_declared_fields,
    shown_fields,
    update_host_inventory,
    upsert_host,
)
from hosts.errors import HostsError, ImportRowsError, NotFound, OwnershipError
from hosts.importing import ImportResult, import_rows
from hosts.models import Account, Host, LogEntry, RulesState, detail_is_error
from syncsite.redact import scrub

__all__ = [
    "HostsError",
    "ImportResult",
    "ImportRowsError",
    "NotFound",
    "OwnershipError",
    "account_rows",
    "account_secret_values",
    "bump_rules_version",
    "cronjob_status",
    "dashboard_cards",
    "dashboard_sections",
    "delete_host",
    "export_rules",
    "get_account",
    "get_host_or_404",
    "get_rule",
    "import_rows",
    "import_rules",
    "purge_log_entries",
    "queue_cronjob",
    "record_manual_edit",
    "rule_document",
    "rule_queryset",
    "rules_version",
    "save_rule",
    "secure_declared_fields",
    "shown_fields",
    "update_host_inventory",
    "upsert_host",
    "write_log",
]

logger = logging.getLogger(__name__)


def _admin_url(name: str) -> str:
    try:
        return reverse(name)
    except NoReverseMatch:
        return ""


def dashboard_cards() -> list[dict]:
    """Counts for the home page: {"key", "title", "count", "url", "note"} per card."""
    hosts = Host.objects.filter(is_object=False).count()
    objects = Host.objects.filter(is_object=True).count()
    accounts = Account.objects.count()
    errors = LogEntry.objects.filter(has_error=True, created__gte=timezone.now() - timedelta(days=1)).count()
    return [
        {
            "key": "hosts",
            "title": "Hosts",
            "count": hosts,
            "url": _admin_url("hosts:list"),
            "note": f"{objects} other objects" if objects else "",
        },
        {
            "key": "accounts",
            "title": "Accounts",
            "count": accounts,
            "url": _admin_url("hosts:accounts"),
            "note": f"{errors} failed runs in 24 h" if errors else "",
        },
    ]


def dashboard_sections() -> list[dict]:
    """Extra home page sections: {"template", "data"} each."""
    return []


# --- accounts --------------------------------------------------------------------------------------------


def get_account(name: str) -> dict[str, Any] | None:
    """The config dict of an enabled account (custom fields flattened, "true"/"false" as booleans), or None."""
    if not name:
        return None
    account = Account.objects.filter(name=name, enabled=True).prefetch_related("custom_fields").first()
    return account.as_config() if account else None


def account_secret_values(account: int | str | None) -> list[str]:
    """The clear values of an account's secrets (password, secret custom fields), to mask them in logs.

    `account` is the account's primary key (an int) or its name (a str).
    """
    if not account:
        return []
    lookup = {"pk": account} if isinstance(account, int) else {"name": str(account)}
    account = Account.objects.filter(**lookup).prefetch_related("custom_fields").first()
    if account is None:
        return []
    values = [account.password] + [f.get_value() for f in account.custom_fields.all() if f.is_secret]
    return [value for value in values if value]


# --- run log ---------------------------------------------------------------------------------------------


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    return str(value)


def write_log(
    name: str,
    source: str,
    details: Iterable[tuple[Any, Any]] = (),
    duration: float | None = None,
    secrets: Iterable[str] = (),
) -> LogEntry:
    """Record a run; has_error is set when any detail's name contains "error" or "exception".

    URLs lose their credentials and the given secret values are masked before anything is stored.
    """
    known = list(secrets)
    pairs = [[str(k), scrub(_json_safe(v), known)] for k, v in details]
    return LogEntry.objects.create(
        name=scrub(str(name), known)[:200],
        source=str(source)[:100],
        details=pairs,
        has_error=any(detail_is_error(k) for k, _ in pairs),
        duration=duration,
    )


def purge_log_entries(days: int | None = None) -> int:
    """Delete run log entries older than the retention (HOSTS_LOG_RETENTION_DAYS); returns how many."""
    days = conf.log_retention_days() if days is None else days
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = LogEntry.objects.filter(created__lt=cutoff).delete()
    logger.info("purged %d log entries older than %d days", deleted, days)
    return deleted


def record_manual_edit(host: Host, changed_fields: Iterable[str], editor: str) -> None:
    """A person edited the host (the admin): when labels or inventory changed, the attributes computed from them
    are stale, so the attribute cache is cleared, and the host's log says who edited. The caller saves the host.
    """
    if {"labels", "inventory"} & set(changed_fields):
        host.cache = {}
        host.add_log(f"labels/inventory edited by {editor} in the admin")


# --- rules -----------------------------------------------------------------------------------------------


def rules_version() -> int:
    """The rules counter; cached attribute sets computed under another value are stale."""
    return RulesState.current_version()


def bump_rules_version() -> None:
    """Any rule change moves the counter, so every cached attribute set computed before becomes stale."""
    with transaction.atomic():
        if not RulesState.objects.filter(pk=1).update(version=F("version") + 1):
            RulesState.objects.get_or_create(pk=1, defaults={"version": 1})
