"""Bulk import of host rows: the semantics of `Host.update_host`/`set_account`, in batches and one transaction.

`import_rows(account, rows)` is what every import plugin calls (through `hosts.services.import_rows`).
Per host it does what the per-host plugin API does (normalise the name and labels, claim the host for
the account unless it is locked or owned by a master account, set `last_import_seen`, and only when the
labels really changed set `last_import_sync` and clear the attribute cache), but it reads existing hosts
in batches, writes with `bulk_create`/`bulk_update` and marks unchanged hosts seen with one UPDATE per
batch. The whole run is one transaction: an invalid row aborts it and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from hosts.models import Account, Host
from hosts.normalize import normalize_hostname, normalize_labels, normalize_value

Progress = Callable[[int], Any]


class ImportRowsError(ValueError):
    """A row cannot be imported; the run was rolled back. The message names the row."""


@dataclass
class ImportResult:
    """Counts of one run; `details()` is what the run's LogEntry records (`errors` only when there are some)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: int = 0
    stale: int = 0
    deleted: int = 0
    dry_run: bool = False
    messages: list[str] = field(default_factory=list)
    seen_owned: int = field(default=0, repr=False)  # rows that were already the account's hosts

    def details(self) -> list[tuple[str, Any]]:
        pairs: list[tuple[str, Any]] = [
            ("created", self.created),
            ("updated", self.updated),
            ("unchanged", self.unchanged),
            ("skipped", self.skipped),
            ("stale", self.stale),
            ("deleted", self.deleted),
        ]
        if self.errors:  # a detail named like "error" marks the whole LogEntry as failed
            pairs.append(("errors", self.errors))
        if self.dry_run:
            pairs.append(("dry_run", True))
        pairs.extend(("message", message) for message in self.messages)
        return pairs


def _account(account: Account | dict[str, Any] | str | int) -> Account:
    if isinstance(account, Account):
        return account
    if isinstance(account, dict):
        key = account.get("id")
        found = Account.objects.filter(pk=key).first() if key else None
        label = account.get("name") or key
    elif isinstance(account, int):
        found, label = Account.objects.filter(pk=account).first(), account
    else:
        found, label = Account.objects.filter(name=account).first(), account
    if found is None:
        raise ImportRowsError(f"account {label!r} does not exist")
    return found


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _delete_policy(account: Account) -> tuple[bool, int]:
    """(delete stale hosts?, at most how many per run) from the account's custom fields."""
    fields = {item.name: item.value for item in account.custom_fields.all()}
    delete = _bool(fields.get("delete_stale", fields.get("delete_hosts", False)))
    raw_limit = fields.get("delete_limit", "")
    try:
        limit = int(raw_limit) if str(raw_limit).strip() else default_delete_limit()
    except ValueError as exc:
        raise ImportRowsError(f"account {account.name!r}: delete_limit {raw_limit!r} is not a number") from exc
    return delete, limit


def default_delete_limit() -> int:
    """Stale hosts one run may delete unless forced (HOSTS_IMPORT_DELETE_LIMIT)."""
    from django.conf import settings

    return int(getattr(settings, "HOSTS_IMPORT_DELETE_LIMIT", 100))


def batch_size() -> int:
    """Hosts read and written per statement (HOSTS_IMPORT_BATCH_SIZE)."""
    from django.conf import settings

    return int(getattr(settings, "HOSTS_IMPORT_BATCH_SIZE", 1000))


def _normalised_rows(rows: Iterable[tuple[Any, Any]], result: ImportResult, strict: bool) -> dict[str, dict[str, Any]]:
    """hostname -> labels: empty names skipped (an error when strict), invalid ones abort, the last duplicate wins."""
    prepared: dict[str, dict[str, Any]] = {}
    for index, (raw_name, labels) in enumerate(rows):
        if raw_name is None or not str(raw_name).strip():
            if strict:
                result.errors += 1
                raise ImportRowsError(f"row {index + 1}: empty hostname")
            result.skipped += 1
            continue
        name = normalize_hostname(raw_name)
        if not name:
            result.errors += 1
            raise ImportRowsError(f"row {index + 1}: invalid hostname {raw_name!r}")
        if labels is not None and not isinstance(labels, dict):
            result.errors += 1
            raise ImportRowsError(f"row {index + 1} ({name}): labels must be an object, got {type(labels).__name__}")
        if name in prepared:
            result.skipped += 1  # an earlier row of the same host is replaced by this one
        prepared[name] = labels or {}
    return prepared


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_rows(
    account: Account | dict[str, Any] | str | int | None,
    rows: Iterable[tuple[str, dict[str, Any]]],
    *,
    inventory_key: str | None = None,
    dry_run: bool = False,
    force_delete: bool = False,
    mark_stale: bool = True,
    on_conflict: str = "skip",
    strict: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import (hostname, labels) rows for an account in one transaction; see the module docstring.

    With `inventory_key` the rows are inventory data instead: `update_inventory(key, data)` semantics on
    existing hosts only (unknown hosts are skipped), no ownership change and no stale marking; the
    account may then be None. Hosts of the account not in `rows` are marked stale (unless
    `mark_stale=False`, for partial pushes); they are deleted only when the account's `delete_stale`
    field is true, and only up to `delete_limit` per run unless `force_delete`. A host the account may
    not take (locked, or owned by a master account) is skipped, or with `on_conflict="fail"` aborts the
    run with OwnershipError. `strict` makes an empty hostname an error instead of a skip.
    With `dry_run` everything is computed and counted but nothing is written.
    """
    if on_conflict not in ("skip", "fail"):
        raise ValueError("on_conflict is 'skip' or 'fail'")
    owner = _account(account) if account is not None or inventory_key is None else None
    result = ImportResult(dry_run=dry_run)
    prepared = _normalised_rows(rows, result, strict)
    now = timezone.now()
    size = batch_size()
    with transaction.atomic():
        for names in _chunks(list(prepared), size):
            hosts = Host.objects.filter(hostname__in=names).order_by()
            if inventory_key is None:
                hosts = hosts.select_related("account").defer("inventory", "cache")
                existing = {host.hostname: host for host in hosts}
                _import_labels_batch(owner, names, prepared, existing, now, result, dry_run, on_conflict)
            else:
                existing = {host.hostname: host for host in hosts.defer("labels", "cache", "log")}
                _import_inventory_batch(inventory_key, names, prepared, existing, result, dry_run)
            if progress is not None:
                progress(len(names))
        if inventory_key is None and mark_stale:
            _mark_stale(owner, now, result, dry_run, force_delete)
    return result


LABEL_FIELDS = ["labels", "account", "last_import_seen", "last_import_sync", "cache", "log", "stale"]
OWNER_FIELDS = ["account", "last_import_seen", "log", "stale"]


def _import_labels_batch(
    owner: Account,
    names: list[str],
    prepared: dict[str, dict[str, Any]],
    existing: dict[str, Host],
    now: Any,
    result: ImportResult,
    dry_run: bool,
    on_conflict: str,
) -> None:
    to_create: list[Host] = []
    labels_changed: list[Host] = []
    owner_changed: list[Host] = []
    seen_ids: list[int] = []
    for name in names:
        labels = normalize_labels(prepared[name])
        host = existing.get(name)
        if host is None:
            to_create.append(
                Host(
                    hostname=name,
                    labels=labels,
                    account=owner,
                    last_import_seen=now,
                    last_import_sync=now,
                    created=now,
                    stale=False,
                )
            )
            continue
        account_changed = False
        if host.account_id == owner.pk:
            result.seen_owned += 1
        else:
            if host.locked or (host.account_id is not None and host.account.is_master and not owner.is_master):
                if on_conflict == "fail":
                    from hosts.hostops import OwnershipError, ownership_refusal

                    raise OwnershipError(ownership_refusal(host, owner))
                result.skipped += 1
                continue
            if host.account_id is not None:
                host.add_log(f"account changed from {host.account.name} to {owner.name}")
            host.account = owner
            account_changed = True
        host.last_import_seen = now
        if host.labels != labels:
            host.labels = labels
            host.last_import_sync = now
            host.cache = {}
            host.stale = False
            labels_changed.append(host)
            result.updated += 1
        elif account_changed or host.stale:
            host.stale = False
            owner_changed.append(host)
            result.updated += 1 if account_changed else 0
            result.unchanged += 0 if account_changed else 1
        else:
            seen_ids.append(host.pk)
            result.unchanged += 1
    result.created += len(to_create)
    if dry_run:
        return
    if to_create:
        Host.objects.bulk_create(to_create, batch_size=len(to_create))
    if labels_changed:
        Host.objects.bulk_update(labels_changed, LABEL_FIELDS, batch_size=len(labels_changed))
    if owner_changed:
        Host.objects.bulk_update(owner_changed, OWNER_FIELDS, batch_size=len(owner_changed))
    if seen_ids:
        Host.objects.filter(pk__in=seen_ids).update(last_import_seen=now)


def _import_inventory_batch(
    key: str,
    names: list[str],
    prepared: dict[str, dict[str, Any]],
    existing: dict[str, Host],
    result: ImportResult,
    dry_run: bool,
) -> None:
    prefix = f"{key}__"
    to_update: list[Host] = []
    for name in names:
        host = existing.get(name)
        if host is None:
            result.skipped += 1
            continue
        kept = {k: v for k, v in host.inventory.items() if not k.startswith(prefix)}
        section = {f"{prefix}{field}": normalize_value(value) for field, value in prepared[name].items()}
        inventory = {**kept, **section}
        if inventory == host.inventory:
            result.unchanged += 1
            continue
        host.inventory = inventory
        host.cache = {}
        to_update.append(host)
    result.updated += len(to_update)
    if to_update and not dry_run:
        Host.objects.bulk_update(to_update, ["inventory", "cache"], batch_size=len(to_update))


def _mark_stale(owner: Account, now: Any, result: ImportResult, dry_run: bool, force_delete: bool) -> None:
    """Hosts of the account this run did not see become stale; deleted only by the account's policy."""
    not_seen = Host.objects.filter(account=owner).exclude(last_import_seen=now)
    # A dry run wrote no last_import_seen: what it would leave unseen is what the account had minus what it saw.
    result.stale = Host.objects.filter(account=owner).count() - result.seen_owned if dry_run else not_seen.count()
    if not result.stale:
        return
    delete, limit = _delete_policy(owner)
    if delete:
        if result.stale > limit and not force_delete:
            result.errors += 1
            result.messages.append(
                f"{result.stale} stale hosts exceed the delete limit {limit} of account {owner.name!r}: "
                "none deleted (raise delete_limit or force the deletion)"
            )
        else:
            result.deleted = result.stale
            if not dry_run:
                not_seen.delete()
            return
    if not dry_run:
        not_seen.filter(stale=False).update(stale=True)
