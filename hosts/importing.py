"""Bulk import of host rows: the semantics of `Host.update_host`/`set_account`, in batches and one transaction.

`import_rows(account, rows)` is what every import plugin calls (through `hosts.services.import_rows`).
Per host it does what the per-host plugin API does (normalise the name and labels, claim the host for
the account unless it is locked or owned by a master account, set `last_import_seen`, and only when the
labels really changed set `last_import_sync` and clear the attribute cache), but in batches:

1. hosts of this account whose stored labels equal the new ones are found by one read of the account's
   hosts (id, hostname, labels) and marked seen in the narrow HostSeen table by one upsert per chunk of
   50,000, so an unchanged re-import never rewrites the wide host rows (`Host.last_import_seen` reads both);
2. the rest are read with one query per batch (only the columns the decision needs) and decided in
   Python exactly like `set_account` + `update_host`: changed hosts are written with `bulk_update`;
3. new hosts are inserted with one multi-row statement per batch (PostgreSQL: COPY), values prepared
   by the model's own fields so the stored form is the ORM's.

Rows come normalised here, or already normal as `NormalisedRows` from a reader that normalised them while it
read them (the CSV import), so a big source is not walked twice. The whole run is one transaction: an invalid
row aborts it and nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from hosts import ownership
from hosts.errors import ImportRowsError, OwnershipError
from hosts.models import Account, Host, HostSeen
from hosts.normalize import NormalisedRows, Normaliser, normalize_value
from syncsite import changes

Progress = Callable[[int], Any]


DUPLICATES_SHOWN = 20  # hostnames a run's summary names of the repeated ones


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
    duplicates: list[str] = field(default_factory=list)  # hostnames named by several rows (the last row won)
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
        if self.duplicates:
            shown = sorted(set(self.duplicates))
            more = f" and {len(shown) - DUPLICATES_SHOWN} more" if len(shown) > DUPLICATES_SHOWN else ""
            pairs.append(("duplicates skipped", ", ".join(shown[:DUPLICATES_SHOWN]) + more))
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
    fields = {item.name: item.get_value() for item in account.custom_fields.all()}
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


def _normalised_rows(
    rows: Iterable[tuple[Any, Any]], result: ImportResult, strict: bool, normaliser: Normaliser
) -> dict[str, dict[str, Any]]:
    """hostname -> raw labels: empty names skipped (error when strict), invalid ones abort, the last duplicate wins."""
    prepared: dict[str, dict[str, Any]] = {}
    hostname, lowercase, match = normaliser.hostname, normaliser.lowercase, normaliser.match
    for index, (raw_name, labels) in enumerate(rows):
        if type(raw_name) is str:  # Normaliser.hostname inlined for the common case: this loop runs per row
            name = raw_name.strip()
            if lowercase:
                name = name.lower()
            if name and not match(name):
                name = None
        else:
            name = hostname(raw_name)
        if not name:
            if raw_name is None or not str(raw_name).strip():
                if strict:
                    result.errors += 1
                    raise ImportRowsError(f"row {index + 1}: empty hostname")
                result.skipped += 1
                continue
            result.errors += 1
            raise ImportRowsError(f"row {index + 1}: invalid hostname {raw_name!r}")
        if labels is not None and type(labels) is not dict and not isinstance(labels, dict):
            result.errors += 1
            raise ImportRowsError(f"row {index + 1} ({name}): labels must be an object, got {type(labels).__name__}")
        if name in prepared:
            result.skipped += 1  # an earlier row of the same host is replaced by this one
            result.duplicates.append(name)
        prepared[name] = labels or {}
    return prepared


def _settled_rows(rows: NormalisedRows, result: ImportResult, strict: bool) -> dict[str, dict[str, Any]]:
    """`_normalised_rows` + `Normaliser.all_labels` for rows already normal: only empty names and repeats."""
    prepared = rows.hosts
    result.skipped += rows.repeated
    result.duplicates += getattr(rows, "duplicates", [])
    if "" in prepared:
        if strict:
            result.errors += 1
            raise ImportRowsError(f"row {rows.first_empty}: empty hostname")
        prepared = {name: labels for name, labels in prepared.items() if name}
        result.skipped += 1
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
    normaliser = Normaliser()
    settled = inventory_key is None and isinstance(rows, NormalisedRows) and rows.rules == normaliser.rules
    if settled:
        prepared = _settled_rows(rows, result, strict)
    else:
        prepared = _normalised_rows(rows, result, strict, normaliser)
        if isinstance(rows, NormalisedRows):  # normalised under other rules: normalised again, the repeats counted
            result.skipped += rows.repeated
            result.duplicates += rows.duplicates
    now = timezone.now()
    size = batch_size()
    with transaction.atomic():
        if inventory_key is None:
            labels = prepared if settled else normaliser.all_labels(prepared)
            rest = list(labels)
            owned = Host.objects.filter(account=owner).count()
            # The shortcut for unchanged hosts only pays when the account already has hosts: one read of the
            # account's hosts instead of one lookup per batch.
            if not dry_run and owned:
                seen = _mark_unchanged_seen(owner, labels, now)
                result.unchanged += len(seen)
                result.seen_owned += len(seen)
                if progress is not None and seen:
                    progress(len(seen))
                rest = [name for name in rest if name not in seen]
            inserter = _Inserter(now) if not dry_run else None
            for names in _chunks(rest, size):
                _import_labels_batch(
                    owner, {name: labels[name] for name in names}, now, result, dry_run, on_conflict, inserter
                )
                if progress is not None:
                    progress(len(names))
        else:
            for names in _chunks(list(prepared), size):
                hosts = Host.objects.filter(hostname__in=names).order_by().only("id", "hostname", "inventory")
                existing = {host.hostname: host for host in hosts}
                _import_inventory_batch(inventory_key, names, prepared, existing, result, dry_run)
                if progress is not None:
                    progress(len(names))
        if inventory_key is None and mark_stale:
            _mark_stale(owner, owned, now, result, dry_run, force_delete)
    return result


SHORTCUT_CHUNK = 50_000
DECODED_MEMO = 100_000
LABEL_FIELDS = ["labels", "last_import_seen_row", "last_import_sync", "cache", "stale"]
OWNER_FIELDS = ["account", "last_import_seen_row", "log", "stale"]
DECISION_COLUMNS = ("id", "hostname", "labels", "account_id", "locked", "stale", "account__is_master", "account__name")


def _dumps(value: Any) -> str:
    """JSON text as Django's JSONField stores it (same encoder and separators), so stored text compares equal."""
    return json.dumps(value)


def _mark_unchanged_seen(owner: Account, labels: dict[str, dict[str, Any]], now: Any) -> set[str]:
    """Hosts of `owner`, not stale, whose stored labels equal the new ones: marked seen in HostSeen only.

    Returns their hostnames. The stored labels are read with one query (raw JSON text, decoded here: cheaper
    than sending every row's labels to the database to compare there) and compared like `update_host` does.
    Only the narrow HostSeen rows are written, so an unchanged re-import does not rewrite the wide host rows
    and their indexes. Anything not matched here (new, changed, another owner, stale) goes through the
    Python decision, so this is only a shortcut.
    """
    table = connection.ops.quote_name(Host._meta.db_table)
    labels_column = connection.ops.quote_name(Host._meta.get_field("labels").column)
    ids: list[int] = []
    names: set[str] = set()
    loads = json.loads
    decoded: dict[str, Any] = {}  # hosts of one inventory repeat the same label sets: decode each text once
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, hostname, {labels_column} FROM {table} "  # noqa: S608 - identifiers from the model
            "WHERE account_id = %s AND NOT stale",
            [owner.pk],
        )
        while chunk := cursor.fetchmany(10_000):
            for pk, name, stored in chunk:
                new = labels.get(name)
                if new is None:
                    continue
                if type(stored) is str:
                    text = stored
                    stored = decoded.get(text)
                    if stored is None:
                        if len(decoded) >= DECODED_MEMO:
                            decoded.clear()
                        stored = decoded[text] = loads(text)
                if stored == new:
                    ids.append(pk)
                    names.add(name)
    for chunk_ids in _chunks(ids, SHORTCUT_CHUNK):
        _upsert_seen(chunk_ids, now)
    return names


def _upsert_seen(ids: list[int], now: Any) -> None:
    """HostSeen(host_id, seen=now) for these hosts, inserted or updated by one statement."""
    table = connection.ops.quote_name(HostSeen._meta.db_table)
    if connection.vendor == "postgresql":
        source = "SELECT value::bigint, %s::timestamptz FROM jsonb_array_elements_text(%s::jsonb)"
        params = [now, json.dumps(ids)]
    elif connection.vendor == "sqlite":
        source = "SELECT value, %s FROM json_each(%s) WHERE true"  # WHERE: SQLite's upsert-after-SELECT rule
        params = [connection.ops.adapt_datetimefield_value(now), json.dumps(ids)]
    else:
        HostSeen.objects.bulk_create(
            [HostSeen(host_id=pk, seen=now) for pk in ids],
            update_conflicts=True,
            unique_fields=["host"],
            update_fields=["seen"],
            batch_size=1000,
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (host_id, seen) {source} "  # identifiers from the model, values bound
            "ON CONFLICT (host_id) DO UPDATE SET seen = excluded.seen",
            params,
        )


class _Inserter:
    """Inserts new hosts with values prepared by the model's fields (defaults included), one statement per batch."""

    def __init__(self, now: Any) -> None:
        self.fields = [f for f in Host._meta.concrete_fields if not f.primary_key]
        self.columns = [f.column for f in self.fields]
        self.now = now

    def insert(self, owner: Account, labels: dict[str, dict[str, Any]]) -> None:
        if not labels:
            return
        overrides: dict[str, Any] = {
            "account_id": owner.pk,
            "last_import_seen_row": self.now,
            "last_import_sync": self.now,
            "created": self.now,
            "stale": False,
        }
        postgres = connection.vendor == "postgresql"
        template: list[Any] = []
        for model_field in self.fields:
            name = model_field.attname
            value = overrides[name] if name in overrides else model_field.get_default()
            if isinstance(model_field, models.JSONField):
                template.append(_dumps(value))
            elif postgres:
                template.append(value)
            else:
                template.append(model_field.get_db_prep_save(value, connection))
        hostname_at = self.columns.index(Host._meta.get_field("hostname").column)
        labels_at = self.columns.index(Host._meta.get_field("labels").column)
        rows = []
        for name, value in labels.items():
            row = list(template)
            row[hostname_at] = name
            row[labels_at] = _dumps(value)
            rows.append(row)
        table = connection.ops.quote_name(Host._meta.db_table)
        column_list = ", ".join(connection.ops.quote_name(column) for column in self.columns)
        with connection.cursor() as cursor:
            if postgres:
                with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                placeholders = ", ".join(["%s"] * len(self.columns))
                sql = f"INSERT INTO {table} ({column_list}) VALUES ({placeholders})"  # noqa: S608
                # one change-log row for the whole batch instead of a row trigger per host (syncsite.changes)
                changes.bulk_insert(
                    connection, Host, lambda: cursor.executemany(sql, rows), len(rows), natural_key=["hostname"]
                )


def _import_labels_batch(
    owner: Account,
    labels: dict[str, dict[str, Any]],
    now: Any,
    result: ImportResult,
    dry_run: bool,
    on_conflict: str,
    inserter: _Inserter | None,
) -> None:
    """One batch of hosts the shortcut did not settle: the update_host/set_account decision, then the writes."""
    rest = list(labels)
    existing = {row[1]: row for row in Host.objects.filter(hostname__in=rest).order_by().values_list(*DECISION_COLUMNS)}
    new: dict[str, dict[str, Any]] = {}
    labels_changed: list[Host] = []
    owner_changed: list[int] = []
    revived_ids: list[int] = []
    seen_ids: list[int] = []
    for name in rest:
        new_labels = labels[name]
        row = existing.get(name)
        if row is None:
            new[name] = new_labels
            continue
        pk, _, stored, account_id, locked, stale, owner_is_master, owner_name = row
        account_changed = account_id != owner.pk
        if account_changed:
            if not ownership.may_take_over(
                locked=locked,
                owner_is_master=account_id is not None and bool(owner_is_master),
                claimant_is_master=owner.is_master,
            ):
                if on_conflict == "fail":
                    raise OwnershipError(
                        ownership.refusal(name, locked=locked, owner_name=owner_name, claimant_name=owner.name)
                    )
                result.skipped += 1
                continue
        else:
            result.seen_owned += 1
        if stored != new_labels:
            labels_changed.append(
                Host(pk=pk, labels=new_labels, last_import_seen_row=now, last_import_sync=now, cache={}, stale=False)
            )
            result.updated += 1
            if account_changed:
                owner_changed.append(pk)
        elif account_changed:
            owner_changed.append(pk)
            result.updated += 1
        elif stale:
            revived_ids.append(pk)
            result.unchanged += 1
        else:
            seen_ids.append(pk)
            result.unchanged += 1
    result.created += len(new)
    if dry_run:
        return
    if inserter is not None:
        inserter.insert(owner, new)
    if labels_changed:
        Host.objects.bulk_update(labels_changed, LABEL_FIELDS, batch_size=len(labels_changed))
    if revived_ids:
        Host.objects.filter(pk__in=revived_ids).update(last_import_seen_row=now, stale=False)
    if owner_changed:
        _take_over(owner, owner_changed, now)
    if seen_ids:
        Host.objects.filter(pk__in=seen_ids).update(last_import_seen_row=now)


def _take_over(owner: Account, ids: list[int], now: Any) -> None:
    """Hosts moving to `owner` from another (non-master) account: log it on the host, like set_account."""
    hosts = list(
        Host.objects.filter(pk__in=ids).select_related("account").only("id", "log", "account", "account__name")
    )
    for host in hosts:
        if host.account_id is not None:
            host.add_log(ownership.take_over_log(host.account.name, owner.name))
        host.account = owner
        host.last_import_seen_row = now
        host.stale = False
    Host.objects.bulk_update(hosts, OWNER_FIELDS, batch_size=max(len(hosts), 1))


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


def _mark_stale(owner: Account, owned: int, now: Any, result: ImportResult, dry_run: bool, force_delete: bool) -> None:
    """Hosts of the account this run did not see become stale; deleted only by the account's policy.

    `owned` is how many hosts the account had before the run: the run saw `result.seen_owned` of them and
    every host it created or took over, so when both counts are equal nothing is stale and the anti-join
    below is not needed (the common unchanged re-import). A dry run, which marks nothing, relies on the counts.
    """
    # Seen in this run: the row says so (new, changed, taken over) or the HostSeen mark does (unchanged).
    marked = models.Exists(HostSeen.objects.filter(host_id=models.OuterRef("pk"), seen=now))  # an anti-join
    not_seen = Host.objects.filter(account=owner).exclude(last_import_seen_row=now).exclude(marked)
    stale = owned - result.seen_owned
    if stale and not dry_run:
        stale = not_seen.count()  # exact even if another transaction changed the account's hosts meanwhile
    result.stale = max(stale, 0)
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
