"""The shared base of exports to a remote system (Checkmk, NetBox): read once, diff, bulk writes, stale limit.

An exporter reads the target's state once, builds the desired state from the hosts after rules, and
lets `plan_changes` sort every object into create / update / delete / unchanged. Only the difference is
written, in chunks (`chunked`), so an unchanged re-export sends no write request. Objects the target
has but Syncsite no longer wants are deleted only when the account allows it and only up to its delete
limit: the same policy (`delete_stale`/`delete_hosts`, `delete_limit`, HOSTS_IMPORT_DELETE_LIMIT) the
importers apply to stale hosts. `ExportResult` collects counts, per-object errors, the dry run's change
list and the activation id, and writes them as one run-log entry.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from hosts.importing import _bool, default_delete_limit

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


class ExportError(RuntimeError):
    """The export as a whole could not run (target unreachable, refused credentials, ...)."""


def delete_policy(config: Mapping[str, Any]) -> tuple[bool, int]:
    """(delete stale objects?, at most how many per run) from an account dict, as the importers read it."""
    delete = _bool(config.get("delete_stale", config.get("delete_hosts", False)))
    raw = config.get("delete_limit", "")
    try:
        limit = int(raw) if str(raw).strip() else default_delete_limit()
    except ValueError as exc:
        raise ExportError(f"account {config.get('name')!r}: delete_limit {raw!r} is not a number") from exc
    return delete, limit


@dataclass
class Change:
    """One planned write: action is create, update or delete; detail says what (for the dry run and the log)."""

    action: str
    name: str
    detail: Any = None

    def __str__(self) -> str:
        return f"{self.action} {self.name}" + (f": {self.detail}" if self.detail not in (None, {}, []) else "")


@dataclass
class ExportPlan:
    """What one export must write; `refused_delete` explains why stale objects were kept."""

    create: dict[Any, Any] = field(default_factory=dict)
    update: dict[Any, Any] = field(default_factory=dict)
    delete: list[Any] = field(default_factory=list)
    unchanged: int = 0
    stale: int = 0
    refused_delete: str = ""
    over_limit: bool = False  # stale objects were kept because they exceed the delete limit: an error

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)

    def changes(self, describe: Callable[[str, Any, Any], Any] | None = None) -> list[Change]:
        describe = describe or (lambda action, name, value: value)
        return [
            *(Change("create", name, describe("create", name, value)) for name, value in self.create.items()),
            *(Change("update", name, describe("update", name, value)) for name, value in self.update.items()),
            *(Change("delete", name) for name in self.delete),
        ]


def plan_changes(
    desired: Mapping[K, T],
    current: Mapping[K, Any],
    difference: Callable[[T, Any], Any],
    *,
    managed: Iterable[K] = (),
    config: Mapping[str, Any] | None = None,
    force_delete: bool = False,
) -> ExportPlan:
    """Sort desired objects into create / update / unchanged and managed leftovers into delete.

    `difference(wanted, existing)` returns what must be written for an existing object, or a falsy value
    when it is up to date. `managed` names the target's objects this account owns: those not desired are
    stale, deleted under the account's delete policy and never beyond its limit unless `force_delete`.
    """
    plan = ExportPlan()
    for name, wanted in desired.items():
        if name not in current:
            plan.create[name] = wanted
            continue
        change = difference(wanted, current[name])
        if change:
            plan.update[name] = change
        else:
            plan.unchanged += 1
    stale = sorted(name for name in managed if name not in desired)
    plan.stale = len(stale)
    if stale:
        delete, limit = delete_policy(config or {})
        if not delete:
            plan.refused_delete = f"{len(stale)} stale objects kept (the account does not delete)"
        elif len(stale) > limit and not force_delete:
            plan.over_limit = True
            plan.refused_delete = (
                f"{len(stale)} stale objects exceed the delete limit {limit} of account "
                f"{(config or {}).get('name')!r}: none deleted (raise delete_limit or force the deletion)"
            )
        else:
            plan.delete = stale
    return plan


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of at most `size` items: one bulk request each."""
    size = max(int(size), 1)
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass
class ExportResult:
    """Counts, errors and changes of one export run; `log_into` writes them as the run's log details."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    activation_id: str = ""
    errors: list[str] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def failed(self) -> bool:
        return bool(self.errors)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)

    def add(self, other: ExportResult) -> None:
        for name in ("created", "updated", "deleted", "unchanged"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)
        self.changes.extend(other.changes)
        self.notes.extend(other.notes)

    def counts(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "activation_id": self.activation_id,
        }

    def log_into(self, plugin: Any) -> None:
        """Append the counts, notes and errors to the plugin's run log (an error flags the entry)."""
        details = plugin.log_details
        if self.dry_run:
            details.append(("dry_run", True))
            details.extend(("change", str(change)) for change in self.changes)
        details.extend(self.counts().items())
        details.extend(("note", note) for note in self.notes)
        details.extend(("error", error) for error in self.errors)

    def summary(self) -> str:
        counts = ", ".join(f"{key} {value}" for key, value in self.counts().items() if key != "activation_id")
        text = ("dry run: " if self.dry_run else "") + counts
        if self.activation_id:
            text += f", activation {self.activation_id}"
        return text
