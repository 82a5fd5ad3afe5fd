"""The only door into synctools: other apps and the views call these functions, never the models directly."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from django.db import models, transaction
from django.db.models import Max, Min
from django.utils import timezone

from synctools import conf
from synctools.errors import CursorExpired, InvalidCursor
from synctools.models import ChangeRecord, PruneHorizon, PulledRow, SyncedFile, SyncRun, SyncState

# --- marking what a pull writes -------------------------------------------------------------

_apply_contexts: list[Callable[[str, str], contextlib.AbstractContextManager]] = []


def register_apply_context(factory: Callable[[str, str], contextlib.AbstractContextManager]) -> None:
    """`factory(url, using)` gives a context entered inside every pull's transaction (a project marks the pulled
    writes with it, e.g. so its change log does not offer them back to the site they came from)."""
    if factory not in _apply_contexts:
        _apply_contexts.append(factory)


@contextlib.contextmanager
def apply_context(url: str, using: str) -> Iterator[None]:
    """Every registered apply context, entered for one pull."""
    with contextlib.ExitStack() as stack:
        for factory in _apply_contexts:
            stack.enter_context(factory(url, using))
        yield


# --- change records (server side) -------------------------------------------------------------


def record_changes(
    model: type[models.Model], pks: Iterable[Any], *, deleted: bool = False, natural_key: list | None = None
) -> None:
    """Note that these rows changed (or were deleted) so the next incremental pull sends them."""
    label = model._meta.concrete_model._meta.label_lower
    ChangeRecord.objects.bulk_create(
        [ChangeRecord(model=label, object_pk=str(pk), deleted=deleted, natural_key=natural_key) for pk in pks]
    )


def current_cursor() -> str:
    """The cursor a reply hands out: the newest change record's id (the prune horizon when none is newer)."""
    last = ChangeRecord.objects.aggregate(last=Max("id"))["last"] or 0
    return str(max(last, prune_horizon()))


def parse_cursor(value: str) -> int:
    """A cursor from a client; InvalidCursor (a ValueError) when it is not one of ours."""
    try:
        cursor = int(value)
    except ValueError:
        cursor = -1
    if cursor < 0:
        raise InvalidCursor(f"Invalid cursor {value!r}.")
    return cursor


def changes_since(model: type[models.Model], cursor: int, upto: int) -> dict[str, list | None]:
    """object_pk -> natural key of its latest deletion (or None) for rows of `model` changed after `cursor`.

    Records made shortly before the cursor are included too (`SYNCTOOL_CURSOR_OVERLAP`): a transaction that
    took its id before the cursor but committed after the previous reply is not lost.
    """
    floor = cursor
    overlap = conf.cursor_overlap_seconds()
    cursor_time = ChangeRecord.objects.filter(id=cursor).values_list("time", flat=True).first() if overlap else None
    if cursor_time is not None:
        since = cursor_time - timedelta(seconds=overlap)
        first_recent = ChangeRecord.objects.filter(time__gte=since).aggregate(first=Min("id"))["first"]
        if first_recent is not None:
            floor = min(cursor, first_recent - 1)
    rows = (
        ChangeRecord.objects.filter(model=model._meta.concrete_model._meta.label_lower, id__gt=floor, id__lte=upto)
        .order_by("id")
        .values_list("object_pk", "deleted", "natural_key")
        .iterator(chunk_size=5000)
    )
    changed: dict[str, list | None] = {}
    for object_pk, deleted, natural_key in rows:
        changed[object_pk] = natural_key if deleted else None
    return changed


def prune_horizon() -> int:
    """Change records up to this id were pruned."""
    return PruneHorizon.objects.filter(pk=1).values_list("pruned_upto", flat=True).first() or 0


def check_cursor(cursor: int) -> None:
    """CursorExpired when changes after this cursor may have been pruned: only a full pull is complete then."""
    if cursor < prune_horizon():
        raise CursorExpired()


def prune_changes(older_than: timedelta) -> int:
    """Forget change records older than this; clients with older cursors are told to pull everything again.

    The horizon is what makes pruning safe: without it a client whose cursor predates the pruned records would
    be sent only the newer ones and never learn of the deletions it missed.
    """
    with transaction.atomic():
        last = ChangeRecord.objects.filter(time__lt=timezone.now() - older_than).aggregate(last=Max("id"))["last"]
        if last is None:
            return 0
        deleted = ChangeRecord.objects.filter(id__lte=last).delete()[0]
        PruneHorizon.objects.update_or_create(pk=1, defaults={"pruned_upto": last, "pruned_at": timezone.now()})
    return deleted


# --- client bookkeeping -----------------------------------------------------------------------


def sync_state(url: str) -> SyncState:
    state, _ = SyncState.objects.get_or_create(url=url)
    return state


def start_run(state: SyncState, *, incremental: bool) -> SyncRun:
    now = timezone.now()
    run = SyncRun.objects.create(
        state=state,
        started_at=now,
        incremental=incremental,
        cursor_before=state.cursor,
        host=socket.gethostname()[:255],
        pid=os.getpid(),
    )
    SyncState.objects.filter(pk=state.pk).update(last_run_at=now, last_outcome=SyncRun.RUNNING)
    return run


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_abandoned_runs() -> int:
    """Mark failed the runs left "running" by a pull that died without saying so (SIGKILL, power loss).

    A run of this machine whose process is gone is abandoned at once; a run of another machine (whose process
    cannot be seen from here) after `SYNCTOOL_STALE_RUN_SECONDS`. Returns how many were marked.
    """
    here = socket.gethostname()[:255]
    cutoff = timezone.now() - timedelta(seconds=conf.stale_run_seconds())
    swept = 0
    for run in SyncRun.objects.filter(outcome=SyncRun.RUNNING).order_by("id"):
        if run.host == here and run.pid:
            gone = not _process_alive(run.pid)
            reason = f"the pull's process {run.pid} ended without finishing the run"
        else:
            gone = run.started_at < cutoff
            reason = f"still running after {conf.stale_run_seconds():.0f}s, its process on {run.host or '?'} is lost"
        if not gone:
            continue
        now = timezone.now()
        error = f"abandoned: {reason}"
        with transaction.atomic():
            marked = SyncRun.objects.filter(pk=run.pk, outcome=SyncRun.RUNNING).update(
                outcome=SyncRun.FAILED, finished_at=now, duration=(now - run.started_at).total_seconds(), error=error
            )
            if marked and not SyncRun.objects.filter(state_id=run.state_id, id__gt=run.id).exists():
                SyncState.objects.filter(pk=run.state_id).update(last_outcome=SyncRun.FAILED, last_error=error)
        swept += marked
    return swept


def save_cursor(state: SyncState, cursor: str) -> None:
    """Store the cursor of a pull; called inside the pull's transaction, so it moves only if the rows do."""
    state.cursor = cursor
    SyncState.objects.filter(pk=state.pk).update(cursor=cursor)


def finish_run(run: SyncRun, *, outcome: str, rows: int = 0, deleted: int = 0, files: int = 0, error: str = "") -> None:
    now = timezone.now()
    run.finished_at = now
    run.outcome = outcome
    run.rows, run.deleted, run.files, run.error = rows, deleted, files, error
    run.duration = (now - run.started_at).total_seconds()
    with transaction.atomic():
        state = SyncState.objects.select_for_update().get(pk=run.state_id)
        run.cursor_after = state.cursor
        run.save()
        state.last_outcome = outcome
        state.last_error = error
        state.last_rows, state.last_deleted, state.last_duration = rows, deleted, run.duration
        if outcome == SyncRun.SUCCESS:
            state.last_success_at = now
        state.save()


# --- where pulled rows came from (client side) ------------------------------------------------


def mapped_rows(state: SyncState, label: str, source_keys: Iterable[str]) -> dict[str, str]:
    """source key -> local pk of rows of this model earlier pulled from this URL."""
    keys = list(dict.fromkeys(source_keys))
    found: dict[str, str] = {}
    for start in range(0, len(keys), 500):
        rows = PulledRow.objects.filter(state=state, model=label, source_key__in=keys[start : start + 500])
        found.update(rows.values_list("source_key", "local_pk"))
    return found


def remember_rows(state: SyncState, label: str, pairs: Iterable[tuple[str, str]], run_id: int) -> None:
    """Record (source key, local pk) of rows a pull wrote; a known key keeps the run that first brought it."""
    rows = [
        PulledRow(state=state, model=label, source_key=key, local_pk=local, first_run=run_id) for key, local in pairs
    ]
    PulledRow.objects.bulk_create(
        rows,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["state", "model", "source_key"],
        update_fields=["local_pk"],
    )


def pulled_from(state: SyncState, label: str, local_pks: Iterable[str], *, before_run: int | None = None) -> set[str]:
    """The local pks among these that came from this URL (before run `before_run`, when given)."""
    pks = list(dict.fromkeys(local_pks))
    found: set[str] = set()
    for start in range(0, len(pks), 500):
        rows = PulledRow.objects.filter(state=state, model=label, local_pk__in=pks[start : start + 500])
        if before_run is not None:
            rows = rows.filter(first_run__lt=before_run)
        found.update(rows.values_list("local_pk", flat=True))
    return found


def iter_pulled_pks(state: SyncState, label: str) -> Iterator[str]:
    """Local pks of every row of this model that came from this URL."""
    rows = PulledRow.objects.filter(state=state, model=label).order_by("id").values_list("local_pk", flat=True)
    yield from rows.iterator(chunk_size=5000)


def forget_rows(state: SyncState, label: str, local_pks: Iterable[str]) -> None:
    """These local rows no longer stand for rows of this URL (deleted, or kept as this site's own)."""
    pks = list(dict.fromkeys(local_pks))
    for start in range(0, len(pks), 500):
        PulledRow.objects.filter(state=state, model=label, local_pk__in=pks[start : start + 500]).delete()


def end_adoption(state: SyncState) -> None:
    """The first pull since rows are mapped succeeded: from now on only mapped rows count as this URL's."""
    if state.adopt_by_pk:
        state.adopt_by_pk = False
        SyncState.objects.filter(pk=state.pk).update(adopt_by_pk=False)


def file_validator(url: str) -> tuple[int | None, str]:
    """(size, validator) recorded when this media URL was last downloaded, or (None, "")."""
    row = SyncedFile.objects.filter(url=url).values_list("size", "validator").first()
    return row if row else (None, "")


def remember_file(url: str, size: int | None, validator: str) -> None:
    SyncedFile.objects.update_or_create(url=url, defaults={"size": size, "validator": validator})


# --- dashboard --------------------------------------------------------------------------------


def dashboard_cards() -> list[dict]:
    """Counts for the home page: {"key", "title", "count", "url", "note"} per card."""
    states = SyncState.objects.all()
    failing = states.filter(last_outcome=SyncRun.FAILED).count()
    return [
        {
            "key": "synctools",
            "title": "Replicated URLs",
            "count": states.count(),
            "url": "/admin/synctools/syncstate/",
            "note": f"{failing} failing" if failing else "all pulls succeeded",
        }
    ]


def dashboard_sections() -> list[dict]:
    """Extra home page sections: {"template", "data"} each."""
    return []
