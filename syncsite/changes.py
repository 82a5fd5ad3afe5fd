"""The change log: every write to a captured table, recorded by a database trigger in the writer's transaction.

Why triggers: the apps write in bulk (`bulk_create`, `update()`, raw SQL, set-based merges from staging
tables), which send no signals, and every future write path is covered without its author remembering to
log. PostgreSQL uses statement-level triggers with transition tables (one INSERT ... SELECT per statement,
whatever the number of rows), SQLite row triggers (it has nothing else). Migrations install them with
`CaptureChanges`; `pause()`/`resume()` switch them off and on (benchmarks).

Readers (replication routes, the tracker's change feed) go by a cursor: `v1.<id>.<xids>`, the highest log id
visible when it was handed out and, on PostgreSQL, the transactions still open then (`pg_snapshot_xip`):
their rows may carry lower ids but become visible only later, so the next read asks for them by txid. That
makes a cursor exact: nothing is lost, nothing sent twice. A cursor below the pruning horizon (`prune`) is
expired: the reader must start again from a full copy.

`context(origin=..., op=...)` marks the writes of the current transaction: a replication pull marks its own
(so it never sends a pulled change back as its own), the tracker labels locks and publishes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.migrations.operations.base import Operation
from django.db.models import Max, Q
from django.utils import timezone

from syncsite.models import Change, ChangeHorizon

CURSOR_VERSION = "v1"
MAX_OPEN_XIDS = 500  # more open transactions than this in a cursor: it falls back to the lowest of them
_PG_ORIGIN = "syncsite.change_origin"
_PG_OP = "syncsite.change_op"


class InvalidCursor(ValueError):
    """A cursor this site did not hand out."""


@dataclass(frozen=True)
class Cursor:
    """A position in the log: the highest id seen, and the transactions that were still open then."""

    last_id: int
    open_xids: tuple[int, ...] = ()
    open_floor: int | None = None  # too many open transactions: every txid from this one on

    def __str__(self) -> str:
        xids = ",".join(map(str, self.open_xids))
        if self.open_floor is not None:
            xids = f">{self.open_floor}"
        return f"{CURSOR_VERSION}.{self.last_id}.{xids}"

    def after(self) -> Q:
        """The log rows this cursor has not seen (as far as its own snapshot could tell)."""
        condition = Q(id__gt=self.last_id)
        if self.open_floor is not None:
            condition |= Q(txid__gte=self.open_floor)
        elif self.open_xids:
            condition |= Q(txid__in=self.open_xids)
        return condition


def parse(value: str) -> Cursor:
    """A cursor from a client; InvalidCursor when it is not one of ours (also cursors of other logs)."""
    parts = str(value).split(".")
    try:
        if len(parts) != 3 or parts[0] != CURSOR_VERSION:
            raise ValueError
        last_id = int(parts[1])
        floor = None
        xids: tuple[int, ...] = ()
        if parts[2].startswith(">"):
            floor = int(parts[2][1:])
        elif parts[2]:
            xids = tuple(int(x) for x in parts[2].split(","))
        if last_id < 0 or len(xids) > MAX_OPEN_XIDS:
            raise ValueError
    except ValueError:
        raise InvalidCursor(f"Invalid cursor {str(value)[:100]!r}.") from None
    return Cursor(last_id, xids, floor)


def current(using: str = DEFAULT_DB_ALIAS) -> Cursor:
    """The cursor of what this connection sees now (inside a REPEATABLE READ transaction: of its snapshot)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT GREATEST((SELECT max(id) FROM syncsite_change),"
                " (SELECT max(pruned_upto) FROM syncsite_changehorizon)),"
                " array(SELECT x::text::bigint FROM pg_snapshot_xip(pg_current_snapshot()) AS x ORDER BY 1)"
            )
            last_id, xids = cursor.fetchone()
            xids = tuple(xids or ())
            if len(xids) > MAX_OPEN_XIDS:
                return Cursor(last_id or 0, (), xids[0])
            return Cursor(last_id or 0, xids)
        cursor.execute(
            "SELECT max(coalesce((SELECT max(id) FROM syncsite_change), 0),"
            " coalesce((SELECT max(pruned_upto) FROM syncsite_changehorizon), 0))"
        )
        return Cursor(cursor.fetchone()[0] or 0)


def horizon(using: str = DEFAULT_DB_ALIAS) -> int:
    """Ids up to this one were pruned."""
    row = ChangeHorizon.objects.using(using).filter(pk=1).values_list("pruned_upto", flat=True).first()
    return row or 0


def expired(cursor: Cursor, using: str = DEFAULT_DB_ALIAS) -> bool:
    """True when changes after this cursor may have been pruned (or it is from a newer log): a full copy is due."""
    if cursor.last_id < horizon(using):
        return True
    newest = Change.objects.using(using).aggregate(last=Max("id"))["last"] or 0
    return cursor.last_id > max(newest, horizon(using))


def changed(
    label: str, since: Cursor, upto: Cursor, *, local_only: bool = False, using: str = DEFAULT_DB_ALIAS
) -> dict[str, list | None]:
    """pk (as text) -> natural key of its deletion (None when it still exists) of rows of `label` changed between
    the two cursors; `local_only` leaves out what replication pulls applied here (their origin is set)."""
    rows = Change.objects.using(using).filter(since.after(), model=label, id__lte=upto.last_id)
    if local_only:
        rows = rows.filter(origin="")
    found: dict[str, list | None] = {}
    for change in rows.order_by("id").only("op", "pks", "keys", "scopes").iterator(2000):
        deleted = change.op == "delete"
        for pk, key, _ in change.entries():
            found[pk] = (key or []) if deleted else None
    return found


def events(
    labels: Iterable[str],
    since: Cursor,
    *,
    limit: int,
    scope_contains: str | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> tuple[list[Change], Cursor]:
    """Log rows of these models after `since`, in log order, and the cursor after them.

    `scope_contains`: of each log row, only the rows whose scope contains this text are kept (others dropped).

    First every row of the transactions `since` saw open (ids up to its last one; they were invisible then),
    then at most `limit` rows with higher ids. Cut short there, the cursor stops at the last row sent and names
    the transactions open now, whose rows below it are not visible yet: nothing is lost or sent twice.
    """
    connection = connections[using]
    snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic(using=using):
        if snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        upto = current(using)
        rows = Change.objects.using(using).filter(model__in=list(labels))
        found: list[Change] = []
        if since.open_xids or since.open_floor is not None:
            opened = Q(txid__gte=since.open_floor) if since.open_floor is not None else Q(txid__in=since.open_xids)
            found.extend(rows.filter(opened, id__lte=since.last_id).order_by("id"))
        later = list(rows.filter(id__gt=since.last_id, id__lte=upto.last_id).order_by("id")[: limit + 1])
    cursor = upto
    if len(later) > limit:
        later = later[:limit]
        cursor = Cursor(later[-1].id, upto.open_xids, upto.open_floor)
    found += later
    if scope_contains is not None:
        for change in found:
            kept = [entry for entry in change.entries() if scope_contains in entry[2]]
            change.pks = [pk for pk, _, _ in kept]
            change.keys = [key for _, key, _ in kept]
            change.scopes = [scope for _, _, scope in kept]
        found = [change for change in found if change.pks]
    return found, cursor


@contextlib.contextmanager
def context(*, origin: str = "", op: str = "", using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Mark the writes made inside this block (one transaction, or a savepoint of the caller's)."""
    connection = connections[using]
    with transaction.atomic(using=using, savepoint=False):  # the marks end with the transaction anyway
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT current_setting(%s, true), current_setting(%s, true), set_config(%s, %s, true),"
                    " set_config(%s, %s, true)",
                    [_PG_ORIGIN, _PG_OP, _PG_ORIGIN, origin, _PG_OP, op[:16]],
                )
                before_origin, before_op, _, _ = cursor.fetchone()
            try:
                yield
            finally:
                if connection.is_usable() and not connection.needs_rollback:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            "SELECT set_config(%s, %s, true), set_config(%s, %s, true)",
                            [_PG_ORIGIN, before_origin or "", _PG_OP, before_op or ""],
                        )
            return
        with connection.cursor() as cursor:
            # Takes the write lock first, so no other writer's log rows can come after `start` until we commit.
            cursor.execute(
                "INSERT INTO syncsite_changecontext (origin, op, start)"
                " SELECT %s, %s, COALESCE(max(id), 0) FROM syncsite_change RETURNING id, start",
                [origin, op[:16]],
            )
            mark, start = cursor.fetchone()
        yield
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE syncsite_change SET"
                " origin = CASE WHEN origin = '' THEN %s ELSE origin END,"
                " op = CASE WHEN %s != '' AND op IN ('create', 'update') THEN %s ELSE op END"
                " WHERE id > %s AND ((origin = '' AND %s != '') OR (%s != '' AND op IN ('create', 'update')))",
                [origin, op[:16], op[:16], start, origin, op[:16]],
            )
            cursor.execute("DELETE FROM syncsite_changecontext WHERE id = %s", [mark])


def prune(older_than: timedelta, using: str = DEFAULT_DB_ALIAS) -> int:
    """Forget log rows older than this; readers with older cursors are told to start from a full copy."""
    cutoff = timezone.now() - older_than
    with transaction.atomic(using=using):
        last = Change.objects.using(using).filter(time__lt=cutoff).aggregate(last=Max("id"))["last"]
        if last is None:
            return 0
        deleted = Change.objects.using(using).filter(id__lte=last).delete()[0]
        ChangeHorizon.objects.using(using).update_or_create(
            pk=1, defaults={"pruned_upto": last, "pruned_at": timezone.now()}
        )
    return deleted


# Below this many rows a bulk insert keeps SQLite's row triggers: setting them aside costs a few statements.
BULK_INSERT_MIN_ROWS = 50


def bulk_insert(
    connection: Any,
    model: type[models.Model],
    write: Callable[[], None],
    count: int,
    *,
    natural_key: Iterable[str] = (),
    scope: str = "",
) -> list[int] | None:
    """Run `write` (an INSERT of `count` rows of `model`, in the caller's transaction) so the log gets one row
    for all of it; returns the new rows' ids in insertion order on SQLite (None where they cannot be told, and
    for fewer than BULK_INSERT_MIN_ROWS rows, which keep their row triggers).

    PostgreSQL's statement triggers log one row per statement anyway. SQLite has only row triggers, each an
    extra insert per row: inside the caller's transaction the table's insert trigger is set aside and one log row
    is built in SQL from the new rows (their ids, natural keys and scopes, as the trigger would record them), then
    the trigger is put back, all in the same transaction (SQLite's DDL is transactional, and it has one writer at
    a time, so the rows above the previous highest id are exactly these). Nothing of the log passes through
    Python: no per-row objects for the garbage collector, which would cost more than the log itself.

    The ids: SQLite gives each new row the next id above the highest ever used (Django's tables are
    AUTOINCREMENT), so `count` rows with ids just above it, and no others, are these rows in this order.
    """
    if connection.vendor != "sqlite" or count < BULK_INSERT_MIN_ROWS:  # a few rows: their triggers cost less
        write()
        return None
    opts = model._meta
    table, quote = opts.db_table, connection.ops.quote_name
    trigger = f"{_name(Spec(table, '', ''))}_insert"
    with connection.cursor() as cursor:
        definition = None
        if connection.in_atomic_block:
            cursor.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = %s", [trigger])
            found = cursor.fetchone()
            definition = found[0] if found else None
        if definition is not None:
            cursor.execute(f"DROP TRIGGER {quote(trigger)}")
        try:
            cursor.execute(
                f"SELECT max(coalesce((SELECT max(id) FROM {quote(table)}), 0),"  # noqa: S608
                " coalesce((SELECT seq FROM sqlite_sequence WHERE name = %s), 0))",
                [table],
            )
            before = cursor.fetchone()[0]
            write()
            if definition is not None:
                columns = [quote(opts.get_field(name).column) for name in natural_key]
                scope_column = [quote(opts.get_field(scope).column)] if scope else []
                keys = f"json_group_array(json_array({', '.join(columns)}))" if columns else "NULL"
                scopes = f"json_group_array({scope_column[0]})" if scope else "NULL"
                read = ", ".join(["id", *columns, *scope_column])
                # Labelled as the innermost `context()` would label it, so its closing UPDATE need not rewrite
                # this (large) row; an outer context still adds its marks.
                cursor.execute(
                    "INSERT INTO syncsite_change (model, op, pks, keys, scopes, origin)"  # noqa: S608
                    f" SELECT %s, coalesce((SELECT nullif(op, '') FROM syncsite_changecontext ORDER BY id DESC"
                    f" LIMIT 1), 'create'), json_group_array(id), {keys}, {scopes},"
                    " coalesce((SELECT origin FROM syncsite_changecontext ORDER BY id DESC LIMIT 1), '')"
                    f" FROM (SELECT {read} FROM {quote(table)} WHERE id > %s ORDER BY id) HAVING count(*) > 0",
                    [opts.label_lower, before],
                )
            cursor.execute(f"SELECT count(*), max(id) FROM {quote(table)} WHERE id > %s", [before])  # noqa: S608
            found_rows, top = cursor.fetchone()
        finally:
            if definition is not None:
                cursor.execute(definition)
    if found_rows != count or (count and top != before + count):
        return None
    return list(range(before + 1, before + count + 1))


# --- triggers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """What a table's triggers record: its label, pk column, natural key columns and scope column."""

    db_table: str
    label: str
    pk_column: str
    natural_key: tuple[str, ...] = ()
    scope_column: str = ""


def spec_for(model: type[models.Model], natural_key: Iterable[str] = (), scope: str = "") -> Spec:
    opts = model._meta
    columns = tuple(opts.get_field(name).column for name in natural_key)
    scope_column = opts.get_field(scope).column if scope else ""
    return Spec(opts.db_table, opts.label_lower, opts.pk.column, columns, scope_column)


def _name(spec: Spec) -> str:
    return f"syncsite_capture_{spec.db_table}"[:60]


def _pg_sql(spec: Spec, quote) -> list[str]:
    name = _name(spec)
    keys = (
        "jsonb_agg(jsonb_build_array(" + ", ".join(f"r.{quote(c)}" for c in spec.natural_key) + "))"
        if spec.natural_key
        else "NULL"
    )
    scopes = f"jsonb_agg(r.{quote(spec.scope_column)})" if spec.scope_column else "NULL"
    label = spec.label.replace("'", "''")
    # One log row per statement: the rows' pks (and keys, scopes) aggregated from the transition table.
    insert = (
        "INSERT INTO syncsite_change (model, op, pks, keys, scopes, origin, txid) "  # noqa: S608
        f"SELECT '{label}', {{op}}, jsonb_agg(r.{quote(spec.pk_column)}), {keys}, {scopes}, o, x "
        "FROM changed_rows r HAVING count(*) > 0"
    )
    function = f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$
DECLARE
    o text := COALESCE(current_setting('{_PG_ORIGIN}', true), '');
    k text := NULLIF(current_setting('{_PG_OP}', true), '');
    x bigint := pg_current_xact_id()::text::bigint;
BEGIN
    IF TG_OP = 'DELETE' THEN
        {insert.format(op="'delete'")};
    ELSIF TG_OP = 'INSERT' THEN
        {insert.format(op="COALESCE(k, 'create')")};
    ELSE
        {insert.format(op="COALESCE(k, 'update')")};
    END IF;
    RETURN NULL;
END
$body$"""
    table = quote(spec.db_table)
    statements = [function]
    for event, transition in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")):
        statements.append(
            f"CREATE TRIGGER {name}_{event.lower()} AFTER {event} ON {table} REFERENCING {transition} TABLE AS "
            f"changed_rows FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    return statements


def _sqlite_sql(spec: Spec, quote) -> list[str]:
    """Row triggers (SQLite has no others), as lean as can be: the row's values as they are, one per log row;
    `context()` sets origin and label afterwards, the column default the time."""
    name = _name(spec)
    label = spec.label.replace("'", "''")
    statements = []
    for event, row, op in (("INSERT", "NEW", "create"), ("UPDATE", "NEW", "update"), ("DELETE", "OLD", "delete")):
        keys = (
            "json_array(" + ", ".join(f"{row}.{quote(c)}" for c in spec.natural_key) + ")"
            if spec.natural_key
            else "NULL"
        )
        scopes = f"json_quote({row}.{quote(spec.scope_column)})" if spec.scope_column else "NULL"
        statements.append(
            f"CREATE TRIGGER {name}_{event.lower()} AFTER {event} ON {quote(spec.db_table)} BEGIN "  # noqa: S608
            "INSERT INTO syncsite_change (model, op, pks, keys, scopes, origin) VALUES ("
            f"'{label}', '{op}', {row}.{quote(spec.pk_column)}, {keys}, {scopes}, ''); END"
        )
    return statements


def install(connection: Any, spec: Spec) -> None:
    """Create the triggers of one table (replacing any)."""
    uninstall(connection, spec.db_table)
    quote = connection.ops.quote_name
    statements = _pg_sql(spec, quote) if connection.vendor == "postgresql" else _sqlite_sql(spec, quote)
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def uninstall(connection: Any, db_table: str) -> None:
    """Drop the triggers of one table."""
    name = _name(Spec(db_table, "", ""))
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for event in ("insert", "update", "delete"):
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}_{event} ON {quote(db_table)}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}_{event}")
        if connection.vendor == "postgresql":
            cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")


def captured(using: str = DEFAULT_DB_ALIAS) -> list[tuple[str, str, str]]:
    """(table, trigger, definition) of every capture trigger, read from the database's catalog."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, t.tgname, '' FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " WHERE t.tgname LIKE 'syncsite\\_capture\\_%%' AND NOT t.tgisinternal ORDER BY 1, 2"
            )
        else:
            cursor.execute(
                "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger'"
                " AND name LIKE 'syncsite\\_capture\\_%%' ESCAPE '\\' ORDER BY 1, 2"
            )
        return [tuple(row) for row in cursor.fetchall()]


def pause(using: str = DEFAULT_DB_ALIAS) -> list[tuple[str, str, str]]:
    """Stop capturing (PostgreSQL: triggers disabled; SQLite: dropped, their definitions kept); `resume()` undoes
    it. For benchmarks and repairs: writes made meanwhile are not in the log."""
    connection = connections[using]
    triggers = captured(using)
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, trigger, _ in triggers:
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {quote(table)} DISABLE TRIGGER {quote(trigger)}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {quote(trigger)}")
    _paused[using] = triggers
    return triggers


def resume(using: str = DEFAULT_DB_ALIAS) -> None:
    connection = connections[using]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, trigger, sql in _paused.pop(using, []):
            if connection.vendor == "postgresql":
                cursor.execute(f"ALTER TABLE {quote(table)} ENABLE TRIGGER {quote(trigger)}")
            else:
                cursor.execute(sql)


_paused: dict[str, list[tuple[str, str, str]]] = {}


class CaptureChanges(Operation):
    """Migration operation: record every write of this model's table in the change log (reversible)."""

    reversible = True
    reduces_to_sql = False

    def __init__(self, model_name: str, natural_key: Iterable[str] = (), scope: str = "") -> None:
        self.model_name = model_name
        self.natural_key = tuple(natural_key)
        self.scope = scope

    def deconstruct(self) -> tuple:
        kwargs: dict[str, Any] = {"model_name": self.model_name}
        if self.natural_key:
            kwargs["natural_key"] = list(self.natural_key)
        if self.scope:
            kwargs["scope"] = self.scope
        return self.__class__.__name__, [], kwargs

    def state_forwards(self, app_label: str, state: Any) -> None:
        pass  # triggers are not part of the model state

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        install(schema_editor.connection, spec_for(model, self.natural_key, self.scope))

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        uninstall(schema_editor.connection, model._meta.db_table)

    def describe(self) -> str:
        return f"Capture the changes of {self.model_name} in the change log"
