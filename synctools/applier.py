"""The Applier: writes pulled fixture entries into the local database in batches.

Rows are matched to local rows by natural key, or through the map of rows pulled from the same URL before
(provenance: source key -> local pk), references are turned into local ids, a model's `replication_refusals`
hook may keep local rows, and tombstones and `clean` delete only rows that came from that URL.
The caller (`synctools.client.Client`) owns the transaction and the deferred constraint checks.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import ObjectDoesNotExist
from django.core.management.color import no_style
from django.core.serializers import base as serializer_base
from django.core.serializers import python as python_serializer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, IntegrityError, connections, models
from django.db.models.constants import OnConflict

from synctools import conf, services, streaming
from synctools.errors import SyncError
from synctools.models import SyncState


def has_natural_key(model: type[models.Model]) -> bool:
    return hasattr(model, "natural_key") and hasattr(model._default_manager, "get_by_natural_key")


def natural_source_key(natural_key: Iterable[Any]) -> str:
    """The source key of a row sent without its pk: a digest of its natural key (fixed length)."""
    text = json.dumps(list(natural_key), cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False)
    return "nk:" + hashlib.sha256(text.encode()).hexdigest()


def _natural_key_of(obj: models.Model) -> tuple | None:
    """The natural key of a pulled instance, or None when it cannot be made yet (a foreign key still deferred)."""
    try:
        return tuple(obj.natural_key())
    except (ObjectDoesNotExist, AttributeError, TypeError, ValueError):
        return None


def _natural_fk_values(entries: list[dict], fields_: list) -> Iterator[tuple[dict, str, Any, Any, list]]:
    """(fields dict, field name, target model, target field, value) of each foreign key sent as a natural key."""
    for entry in entries:
        values = entry.get("fields")
        if not isinstance(values, dict):
            continue
        for name, target, to_field in fields_:
            value = values.get(name)
            if isinstance(value, list):
                yield values, name, target, to_field, value


def _refers_by_pk(field: models.Field) -> bool:
    """A foreign key or M2M field whose values are the target's pks (not another unique column)."""
    if field.many_to_many:
        return True
    target = field.remote_field.model
    return target._meta.get_field(field.remote_field.field_name).primary_key


class PullContext:
    """What a model's `replication_refusals(rows, context)` hook may ask about the pull in progress.

    The hook gets (pulled instance, local instance or None) pairs, foreign keys already turned into local ids, and
    returns the indexes of the pairs whose pulled copy must not be applied (the local row, if any, stays as it is).
    """

    def __init__(self, url: str, state: SyncState, run_id: int, using: str) -> None:
        self.url = url
        self.state = state
        self.run_id = run_id
        self.using = using
        self._refused: dict[type[models.Model], set] = defaultdict(set)

    def came_from_source(self, model: type[models.Model], pks: Iterable[Any]) -> set:
        """The local pks among these whose rows came from this URL before this pull (the others are this site's)."""
        pk_field = model._meta.pk
        wanted = {str(pk): pk for pk in pks if pk is not None}
        found = services.pulled_from(self.state, streaming.model_label(model), wanted, before_run=self.run_id)
        return {pk_field.to_python(key) for key in found}

    def refused(self, model: type[models.Model]) -> set:
        """Local pks of rows whose pulled copy this pull refused so far (their followers are refused with them)."""
        return self._refused[model._meta.concrete_model]

    def refuse(self, model: type[models.Model], pk: Any) -> None:
        self._refused[model._meta.concrete_model].add(pk)


@dataclass
class _Row:
    """One pulled entry on its way in: where it came from and where it goes."""

    obj: serializer_base.DeserializedObject
    source_key: str | None
    sent: frozenset[str]  # fields the reply sent: an update writes only these
    refs: list = field(default_factory=list)  # (attname, target model, source key) of references not mapped yet
    local: Any = None  # pk of the local row it replaces
    new_pk: Any = None  # pk to insert it with when it is new (None: a fresh one)


class Applier:
    """Applies fixture entries in batches: bulk writes where possible, `loaddata`-style saves otherwise.

    Rows are matched to local rows by natural key where the model has one, otherwise through the map of rows
    earlier pulled from this URL (source pk -> local pk); a new row keeps the source's pk when it is free here.
    Without a `state` (no map) rows with a pk are matched by it, as `loaddata` does.
    """

    def __init__(
        self,
        url: str,
        *,
        using: str,
        clean: bool,
        want_pks: Callable[[type[models.Model]], bool] = lambda model: False,
        batch_size: int | None = None,
        state: SyncState | None = None,
        run_id: int = 0,
    ) -> None:
        self.url = url
        self.using = using
        self.clean = clean
        self.want_pks = want_pks
        self.batch_size = batch_size or conf.batch_size()
        self.connection = connections[using]
        self.state = state
        self.adopt = bool(state and state.adopt_by_pk)
        self.context = PullContext(url, state, run_id, using) if state is not None else None
        self.pending: list[dict] = []
        self.pending_label: str | None = None
        self.tombstones: list[dict] = []
        self.deferred: list[serializer_base.DeserializedObject] = []
        self.models: list[type[models.Model]] = []
        self.seen: dict[type[models.Model], set] = defaultdict(set)
        self.pulled_pks: dict[type[models.Model], set] = defaultdict(set)
        self.rows = 0
        self.deleted = 0
        self._statements: dict[tuple, tuple[list[models.Field], str]] = {}
        self._natural_fks: dict[str, list] = {}
        self._natural_cache: dict[tuple, Any] = {}
        self._mapped_cache: dict[tuple[type[models.Model], str], str | None] = {}
        self.unresolved: dict[type[models.Model], list[tuple]] = defaultdict(list)

    @property
    def pending_rows(self) -> int:
        return len(self.pending)

    def cover(self, labels: Iterable[str]) -> None:
        """Models the reply covers even if it has no row of them (what `clean` may delete from)."""
        for label in labels:
            try:
                self._touch(apps.get_model(label))
            except (LookupError, ValueError) as exc:
                raise SyncError(self.url, f"unknown model {label!r} in the reply") from exc

    def _touch(self, model: type[models.Model]) -> None:
        if model not in self.models:
            self.models.append(model)

    def add(self, record: dict) -> None:
        label = record["model"]
        if label == streaming.TOMBSTONE_MODEL:
            self.flush()
            self.tombstones.append(record)
            if len(self.tombstones) >= self.batch_size:
                self._apply_tombstones()
            return
        if label != self.pending_label:
            self.flush()
            self.pending_label = label
        self.pending.append(record)
        if len(self.pending) >= self.batch_size:
            self.flush()

    def finish(self) -> None:
        self.flush()
        self._apply_tombstones()
        for obj in self.deferred:
            obj.save_deferred_fields(using=self.using)
        self.deferred.clear()
        self._fix_references()
        if self.clean:
            self._clean()

    # --- the map of pulled rows ------------------------------------------------------------

    def _mapped(self, model: type[models.Model], keys: Iterable[str]) -> dict[str, Any]:
        """source key -> local pk (typed) of rows of `model` pulled from this URL before (or earlier in this pull)."""
        if self.state is None:
            return {}
        model = model._meta.concrete_model
        missing = [key for key in dict.fromkeys(keys) if (model, key) not in self._mapped_cache]
        if missing:
            if len(self._mapped_cache) > 200_000:
                self._mapped_cache.clear()
            found = services.mapped_rows(self.state, streaming.model_label(model), missing)
            for key in missing:
                self._mapped_cache[(model, key)] = found.get(key)
        pk_field = model._meta.pk
        result = {}
        for key in keys:
            local = self._mapped_cache.get((model, key))
            if local is not None:
                result[key] = pk_field.to_python(local)
        return result

    def _remember(self, model: type[models.Model], pairs: list[tuple[str, Any]]) -> None:
        model = model._meta.concrete_model
        changed = [(key, str(pk)) for key, pk in pairs if self._mapped_cache.get((model, key)) != str(pk)]
        if not changed or self.state is None:
            return
        services.remember_rows(self.state, streaming.model_label(model), changed, self.context.run_id)
        for key, pk in changed:
            self._mapped_cache[(model, key)] = pk

    def _forget(self, model: type[models.Model], local_pks: Iterable[Any]) -> None:
        model = model._meta.concrete_model
        pks = {str(pk) for pk in local_pks}
        if not pks or self.state is None:
            return
        services.forget_rows(self.state, streaming.model_label(model), pks)
        for cache_key, local in list(self._mapped_cache.items()):
            if cache_key[0] is model and local in pks:
                self._mapped_cache[cache_key] = None

    def _fix_references(self) -> None:
        """References to rows that came later in the reply (or in the same batch) point at their local ids now.

        A row whose source id was free here kept it, so most such references are right already; only those to
        rows that got a fresh id are rewritten.
        """
        for model, items in self.unresolved.items():
            manager = model._base_manager.using(self.using)
            by_target: dict[type[models.Model], set[str]] = defaultdict(set)
            for _, _, target, key in items:
                by_target[target].add(key)
            mapped = {target: self._mapped(target, keys) for target, keys in by_target.items()}
            for pk, attname, target, key in items:
                local = mapped[target].get(key)
                if local is not None and str(local) != key:
                    manager.filter(pk=pk).update(**{attname: local})
        self.unresolved.clear()

    # --- rows ------------------------------------------------------------------------------

    def flush(self) -> None:
        if not self.pending:
            return
        entries, self.pending = self.pending, []
        unplaced = self._map_pk_references(entries)  # first: natural keys are still lists, every number a source id
        if unplaced:
            entries = [entry for index, entry in enumerate(entries) if index not in unplaced]
            if not entries:
                return
        source_pks = [entry.pop("source_pk", entry.get("pk")) for entry in entries]
        refs = [entry.pop("unmapped_refs", ()) for entry in entries]
        sent = [frozenset(entry.get("fields") or ()) for entry in entries]
        self._resolve_natural_fks(entries)
        try:
            objects = list(python_serializer.Deserializer(entries, using=self.using, handle_forward_references=True))
        except serializer_base.DeserializationError as exc:
            raise SyncError(self.url, f"cannot read an entry: {exc}") from exc
        model = type(objects[0].object)
        self._touch(model)
        rows = self._match(model, objects, source_pks, sent, refs)
        rows = self._refuse(model, rows)
        self._write(model, rows)
        for row in rows:
            self.unresolved[model].extend((row.obj.object.pk, *ref) for ref in row.refs)
        pks = [row.obj.object.pk for row in rows]
        self._remember(model, [(row.source_key, row.obj.object.pk) for row in rows if row.source_key is not None])
        if self.clean:
            self.seen[model].update(pks)
        if self.want_pks(model):
            self.pulled_pks[model].update(pks)
        self.rows += len(rows)

    def _match(
        self,
        model: type[models.Model],
        objects: list[serializer_base.DeserializedObject],
        source_pks: list,
        sent: list[frozenset[str]],
        refs: list,
    ) -> list[_Row]:
        """Find the local row each entry stands for: by natural key, else by the map, else none (a new row)."""
        natural = has_natural_key(model)
        keys = [_natural_key_of(obj.object) if natural else None for obj in objects]
        rows = []
        for obj, source_pk, natural_key, fields_, refs_ in zip(objects, source_pks, keys, sent, refs, strict=True):
            if source_pk is not None:
                key = str(source_pk)
            else:
                key = natural_source_key(natural_key) if natural_key is not None else None
            rows.append(_Row(obj, key, fields_, refs_))
        by_natural: dict[int, Any] = {}
        if natural:
            # Entries sent without a pk were looked up by Django's deserializer already; the others are here.
            wanted = {i: keys[i] for i in range(len(rows)) if source_pks[i] is not None and keys[i] is not None}
            found = self._pks_by_natural_key(model, list(dict.fromkeys(wanted.values())))
            by_natural = {i: found[key] for i, key in wanted.items() if key in found}
            for i, row in enumerate(rows):
                if source_pks[i] is None and row.obj.object.pk is not None:
                    by_natural[i] = row.obj.object.pk
        mapped = self._mapped(model, [row.source_key for row in rows if row.source_key is not None])
        for i, row in enumerate(rows):
            row.local = by_natural.get(i, mapped.get(row.source_key) if row.source_key is not None else None)
            if row.local is None and self.state is None and source_pks[i] is not None and not natural:
                row.local = row.obj.object.pk  # no map: matched by pk, as loaddata does
        manager = model._base_manager.using(self.using)
        matched = [r.local for r in rows if r.local is not None]
        candidates = [row.obj.object.pk for i, row in enumerate(rows) if source_pks[i] is not None]
        wanted = {pk for pk in [*matched, *candidates] if pk is not None}
        present = set(manager.filter(pk__in=wanted).values_list("pk", flat=True)) if wanted else set()
        for i, row in enumerate(rows):
            if row.local is not None and row.local not in present:
                row.local = None  # the row it was mapped to is gone here: it comes again
            if row.local is not None or source_pks[i] is None:
                continue
            pk = row.obj.object.pk
            if pk in present and ((self.adopt and not natural) or model._meta.pk.remote_field is not None):
                # pulled before rows were mapped: a row with the source's id is that row; and a row whose pk is a
                # reference (HostSeen of a host) is the one row of the row it refers to
                row.local = pk
            elif pk not in present:
                row.new_pk = pk
        # The last entry for a row wins, as with loaddata.
        unique: dict[Any, _Row] = {}
        for index, row in enumerate(rows):
            target = row.local if row.local is not None else row.new_pk
            unique[("row", target) if target is not None else ("new", index)] = row
        return list(unique.values())

    def _pks_by_natural_key(self, model: type[models.Model], keys: list[tuple]) -> dict[tuple, Any]:
        manager = model._default_manager.db_manager(self.using)
        if hasattr(manager, "pks_by_natural_key"):
            found = {}
            for start in range(0, len(keys), 500):
                found.update(manager.pks_by_natural_key(keys[start : start + 500]))
            return found
        found = {}
        for key in keys:
            try:
                found[key] = manager.get_by_natural_key(*key).pk
            except model.DoesNotExist:
                continue
        return found

    def _refuse(self, model: type[models.Model], rows: list[_Row]) -> list[_Row]:
        """Ask the model's `replication_refusals` hook which pulled copies must not replace local rows."""
        for row in rows:
            row.obj.object.pk = row.local if row.local is not None else row.new_pk
        hook = getattr(model, "replication_refusals", None)
        if hook is None or self.context is None:
            return rows
        local_rows = model._base_manager.using(self.using).in_bulk([r.local for r in rows if r.local is not None])
        refused = hook([(row.obj.object, local_rows.get(row.local)) for row in rows], self.context)
        if not refused:
            return rows
        kept = []
        for index, row in enumerate(rows):
            if index in refused:
                if row.local is not None:
                    self.context.refuse(model, row.local)
            else:
                kept.append(row)
        self._forget(model, [rows[i].local for i in refused if rows[i].local is not None])
        return kept

    def _write(self, model: type[models.Model], rows: list[_Row]) -> None:
        updates: dict[frozenset[str], list] = defaultdict(list)
        inserts: list[serializer_base.DeserializedObject] = []
        single = []
        for row in rows:
            obj = row.obj
            if obj.object.pk is None or obj.deferred_fields or model._meta.parents:
                single.append(obj)
            elif row.local is not None:
                updates[row.sent].append(obj)
            else:
                inserts.append(obj)
        for sent, group in updates.items():
            self._upsert(model, group, sent)
        if inserts:
            self._insert(model, inserts)
        if any(obj.object.pk is None for obj in single):
            # Rows inserted with the source's ids do not move a sequence (PostgreSQL): move it past them first.
            self.reset_sequences([model])
        for obj in single:
            obj.save(using=self.using)
            if obj.deferred_fields:
                self.deferred.append(obj)

    def _resolve_natural_fks(self, entries: list[dict]) -> None:
        """Turn natural foreign keys into local ids with one lookup per distinct key (not one per row)."""
        label = entries[0].get("model")
        if label not in self._natural_fks:
            try:
                model = apps.get_model(label)
            except (LookupError, ValueError, TypeError):
                model = None  # the deserializer reports it
            self._natural_fks[label] = [
                (f.name, f.remote_field.model, f.remote_field.model._meta.get_field(f.remote_field.field_name))
                for f in (model._meta.fields if model else ())
                if f.remote_field is not None
                and hasattr(f.remote_field.model, "natural_key")
                and hasattr(f.remote_field.model._default_manager, "get_by_natural_key")
            ]
        fields_ = self._natural_fks[label]
        if not fields_:
            return
        wanted: dict[tuple, set] = defaultdict(set)
        for _, _, target, to_field, value in _natural_fk_values(entries, fields_):
            if (target, json.dumps(value)) not in self._natural_cache:
                wanted[(target, to_field)].add(tuple(value))
        for (target, to_field), keys in wanted.items():
            if to_field.primary_key:
                try:
                    found = self._pks_by_natural_key(target, list(keys))
                except (TypeError, ValueError):
                    found = {}  # a key of the wrong shape: the deserializer reports it
                for key, pk in found.items():
                    self._natural_cache[(target, json.dumps(list(key)))] = pk
        for values, name, target, to_field, value in _natural_fk_values(entries, fields_):
            key = (target, json.dumps(value))
            if key not in self._natural_cache:
                try:
                    obj = target._default_manager.db_manager(self.using).get_by_natural_key(*value)
                except target.DoesNotExist:
                    continue  # not there yet: the deserializer defers it to the end
                self._natural_cache[key] = getattr(obj, to_field.attname)
            values[name] = self._natural_cache[key]

    def _map_pk_references(self, entries: list[dict]) -> set[int]:
        """Source ids in foreign keys, M2M lists and relation pks -> local ids, through the map of pulled rows.

        An id the map does not know stays as it is (a row pulled before rows were mapped, or a plain fixture),
        except a pk that is a reference to a row with a natural key (HostSeen -> Host): that row was not pulled
        or was refused, so the entry has no place here; the indexes of such entries are returned (skipped).
        An entry whose pk changed keeps the source's as "source_pk".
        """
        if self.state is None:
            return set()
        label = entries[0].get("model")
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError, TypeError):
            return set()  # the deserializer reports it
        references = [
            (f.name, f.remote_field.model._meta.concrete_model, f)
            for f in [*model._meta.fields, *model._meta.many_to_many]
            if f.remote_field is not None and not f.primary_key and _refers_by_pk(f)
        ]
        pk_target = model._meta.pk.remote_field.model._meta.concrete_model if model._meta.pk.remote_field else None
        wanted: dict[type[models.Model], set[str]] = defaultdict(set)
        for entry in entries:
            values = entry.get("fields") if isinstance(entry.get("fields"), dict) else {}
            for name, target, _ in references:
                value = values.get(name)
                for item in value if isinstance(value, list) else [value]:
                    if item is not None and not isinstance(item, list | dict):
                        wanted[target].add(str(item))
            if pk_target is not None and entry.get("pk") is not None:
                wanted[pk_target].add(str(entry["pk"]))
        local = {target: self._mapped(target, keys) for target, keys in wanted.items()}

        def mapped(target: type[models.Model], value: Any) -> Any:
            if value is None or isinstance(value, list | dict):
                return value
            return local[target].get(str(value), value)

        for entry in entries:
            values = entry.get("fields") if isinstance(entry.get("fields"), dict) else {}
            for name, target, model_field in references:
                value = values.get(name)
                if isinstance(value, list):
                    values[name] = [mapped(target, item) for item in value]
                elif name in values:
                    values[name] = mapped(target, value)
                    if value is not None and not isinstance(value, dict) and str(value) not in local[target]:
                        # not pulled yet (a row later in the reply, or in this batch): looked at again at the end
                        entry.setdefault("unmapped_refs", []).append((model_field.attname, target, str(value)))
        unplaced: set[int] = set()
        strict = pk_target is not None and has_natural_key(pk_target) and not self.adopt
        for index, entry in enumerate(entries):
            if pk_target is not None and entry.get("pk") is not None:
                source_pk = entry["pk"]
                entry["pk"] = mapped(pk_target, source_pk)
                entry["source_pk"] = source_pk
                if strict and str(source_pk) not in local[pk_target]:
                    unplaced.add(index)
        return unplaced

    def _upsert(
        self, model: type[models.Model], objects: list[serializer_base.DeserializedObject], sent: frozenset[str]
    ) -> None:
        """INSERT ... ON CONFLICT (pk) DO UPDATE, raw (auto_now fields keep the source's values).

        Existing rows get only the fields the reply sent: a field a route omits (a secret) keeps its local value.

        One prepared statement per model run with executemany: the ORM's bulk_create would compile SQL for
        every batch of a few dozen rows (SQLite's parameter limit), which costs more than the rows themselves.
        """
        by_pk = {obj.object.pk: obj for obj in objects}  # the last entry for a pk wins, as with loaddata
        self._write_rows(model, list(by_pk.values()), *self._statement(model, sent))

    def _insert(self, model: type[models.Model], objects: list[serializer_base.DeserializedObject]) -> None:
        """Plain INSERTs of new rows with the pks chosen for them (raw: `auto_now` fields keep the source's values).

        No ON CONFLICT: a row another writer made with that pk meanwhile fails the pull instead of being overwritten.
        """
        self._write_rows(model, objects, *self._statement(model, None))

    def _write_rows(
        self,
        model: type[models.Model],
        objects: list[serializer_base.DeserializedObject],
        fields: list[models.Field],
        sql: str,
    ) -> None:
        connection = self.connection
        instances = [obj.object for obj in objects]
        rows = [[f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields] for obj in instances]
        with connection.cursor() as cursor:
            for start in range(0, len(rows), self.batch_size):
                cursor.executemany(sql, rows[start : start + self.batch_size])
        for instance in instances:
            instance._state.adding = False
            instance._state.db = self.using
        self._set_m2m(model, objects)

    def _statement(self, model: type[models.Model], sent: frozenset[str] | None) -> tuple[list[models.Field], str]:
        """INSERT of every concrete field; with `sent`, ON CONFLICT (pk) updating those fields (or ignoring)."""
        cached = self._statements.get((model, sent))
        if cached:
            return cached
        opts = model._meta
        ops = self.connection.ops
        fields = [f for f in opts.concrete_fields if not f.generated]
        columns = ", ".join(ops.quote_name(f.column) for f in fields)
        placeholders = ", ".join("%s" for _ in fields)
        on_conflict, suffix = None, ""
        if sent is not None:
            update = [f.column for f in fields if not f.primary_key and f.name in sent]
            on_conflict = OnConflict.UPDATE if update else OnConflict.IGNORE
            suffix = " " + ops.on_conflict_suffix_sql(fields, on_conflict, update, [opts.pk.column])
        sql = f"{ops.insert_statement(on_conflict=on_conflict)} {ops.quote_name(opts.db_table)} ({columns}) "
        sql += f"VALUES ({placeholders}){suffix}"
        self._statements[(model, sent)] = (fields, sql)
        return fields, sql

    def _set_m2m(self, model: type[models.Model], objects: list[serializer_base.DeserializedObject]) -> None:
        """Replace the M2M rows of these objects with the reply's: one delete and one insert per field."""
        for m2m in model._meta.many_to_many:
            sent = [(obj.object.pk, obj.m2m_data[m2m.name]) for obj in objects if m2m.name in obj.m2m_data]
            if not sent:
                continue
            through = m2m.remote_field.through
            source = through._meta.get_field(m2m.m2m_field_name()).attname
            target = through._meta.get_field(m2m.m2m_reverse_field_name()).attname
            through._base_manager.using(self.using).filter(**{f"{source}__in": [pk for pk, _ in sent]}).delete()
            rows = [through(**{source: pk, target: value}) for pk, values in sent for value in dict.fromkeys(values)]
            through._base_manager.using(self.using).bulk_create(rows, batch_size=self.batch_size)

    # --- deletions -------------------------------------------------------------------------

    def _apply_tombstones(self) -> None:
        if not self.tombstones:
            return
        self._natural_cache.clear()
        entries, self.tombstones = self.tombstones, []
        by_model: dict[type[models.Model], list] = defaultdict(list)
        for entry in entries:
            fields_ = entry.get("fields") or {}
            try:
                model = apps.get_model(fields_["model"])
            except (KeyError, LookupError, ValueError) as exc:
                raise SyncError(self.url, f"bad deletion entry {entry!r}") from exc
            natural_key = fields_.get("natural_key")
            manager = model._default_manager.db_manager(self.using)
            if natural_key is not None and has_natural_key(model):
                try:
                    pk = manager.get_by_natural_key(*natural_key).pk
                except model.DoesNotExist:
                    continue
            elif entry.get("pk") is not None:
                key = str(entry["pk"])
                pk = self._mapped(model, [key]).get(key)
                if pk is None and (self.state is None or self.adopt):
                    pk = model._meta.pk.to_python(entry["pk"])  # no map (yet): the source's id, as loaddata
            else:
                continue
            if pk is not None:
                by_model[model].append(pk)
        for model, pks in by_model.items():
            self._touch(model)
            if self.state is not None and not self.adopt:
                # Only rows that came from this URL go: a row this site made itself stays.
                label = streaming.model_label(model)
                ours = services.pulled_from(self.state, label, [str(pk) for pk in pks])
                pks = [pk for pk in pks if str(pk) in ours]
            for start in range(0, len(pks), 500):
                chunk = pks[start : start + 500]
                self.deleted += self._delete(model, chunk)
                self._forget(model, chunk)

    def _delete(self, model: type[models.Model], pks: list) -> int:
        """Delete rows and what cascades from them; returns how many rows of `model` went."""
        _, per_model = model._base_manager.using(self.using).filter(pk__in=pks).delete()
        return per_model.get(model._meta.label, 0)

    def _clean(self) -> None:
        """Delete rows of the covered models that came from this URL and are no longer in it.

        Rows this site made itself (or got from elsewhere) have no record of coming from this URL and stay.
        Without a state (no map), every row the reply lacks goes, as with the original package's `clean`.
        """
        for model in reversed(self.models):
            seen = self.seen.get(model, set())
            if self.state is None:
                candidates = model._base_manager.using(self.using).values_list("pk", flat=True).iterator(5000)
            else:
                pk_field = model._meta.pk
                label = streaming.model_label(model)
                candidates = (pk_field.to_python(pk) for pk in services.iter_pulled_pks(self.state, label))
            stale = [pk for pk in candidates if pk not in seen]
            for start in range(0, len(stale), 500):
                chunk = stale[start : start + 500]
                self.deleted += self._delete(model, chunk)
                self._forget(model, chunk)

    # --- end of the transaction ------------------------------------------------------------

    def table_names(self) -> list[str]:
        names = []
        for model in self.models:
            names.append(model._meta.db_table)
            names.extend(f.remote_field.through._meta.db_table for f in model._meta.many_to_many)
        return names

    def check_constraints(self) -> None:
        """Verify every deferred foreign key now, inside the transaction, as loaddata does."""
        try:
            self.connection.check_constraints(table_names=self.table_names())
        except (IntegrityError, DatabaseError) as exc:
            raise SyncError(self.url, f"the data breaks a constraint: {exc}") from exc

    def reset_sequences(self, model_list: list[type[models.Model]] | None = None) -> None:
        """Move primary key sequences past the highest ids (PostgreSQL); of every pulled model by default."""
        model_list = self.models if model_list is None else model_list
        statements = self.connection.ops.sequence_reset_sql(no_style(), model_list)
        if statements:
            with self.connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
