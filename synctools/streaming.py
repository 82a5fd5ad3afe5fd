"""Serialise querysets as Django's JSON fixture format, a batch of rows at a time.

The body is exactly what `serializers.serialize("json", ...)` produces (an array of
{"model", "pk", "fields"}), so any fixture reader accepts it; only the memory profile differs.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from django.apps import apps
from django.core.serializers import python as python_serializer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, models
from django.utils.encoding import is_protected_type

# Wire extras. Plain clients never see them unless they ask for an incremental reply.
TOMBSTONE_MODEL = "synctools.tombstone"  # reserved name: {"model": ..., "pk": pk, "fields": {"model": label}}
CURSOR_HEADER = "X-Synctools-Cursor"
MODELS_HEADER = "X-Synctools-Models"
INCREMENTAL_HEADER = "X-Synctools-Incremental"
SINCE_PARAM = "since"
FULL_PULL_HEADER = "X-Synctools-Full-Pull-Needed"  # on 410: the cursor expired, pull again without it

_ENCODER = DjangoJSONEncoder(ensure_ascii=False, separators=(", ", ": "))


def model_label(model: type[models.Model]) -> str:
    return model._meta.label_lower


def dependencies(model: type[models.Model]) -> set[type[models.Model]]:
    """Models whose rows must exist before this model's rows can point at them."""
    deps = set()
    for field in model._meta.fields:
        if field.remote_field is not None and field.remote_field.model is not None:
            deps.add(field.remote_field.model._meta.concrete_model)
    for field in model._meta.many_to_many:
        deps.add(field.remote_field.model._meta.concrete_model)
    deps.discard(model._meta.concrete_model)
    return deps


def sort_models(model_list: Iterable[type[models.Model]]) -> list[type[models.Model]]:
    """Parents before children, otherwise keeping the given order; cycles fall back to that order.

    Unlike `serializers.sort_dependencies`, which only follows natural keys, every FK counts here.
    """
    remaining = list(dict.fromkeys(model_list))
    wanted = set(remaining)
    ordered: list[type[models.Model]] = []
    placed: set[type[models.Model]] = set()
    while remaining:
        # The first model whose parents are all placed; in a cycle, simply the first (constraint checks are
        # deferred on the client, so any order still loads).
        index = next((i for i, m in enumerate(remaining) if not (dependencies(m) & wanted) - placed), 0)
        model = remaining.pop(index)
        ordered.append(model)
        placed.add(model)
    return ordered


def app_models(label: str) -> list[type[models.Model]]:
    """The models `dumpdata <label>` would write, parents first."""
    config = apps.get_app_config(label)
    return sort_models(
        model
        for model in config.get_models()
        if not model._meta.proxy and not model._meta.auto_created and model._meta.managed
    )


def queryset_model(queryset: Any) -> type[models.Model] | None:
    return getattr(queryset, "model", None)


def optimise(queryset: models.QuerySet) -> models.QuerySet:
    """Fetch natural foreign keys with the rows (a join, not a query per row)."""
    model = queryset.model
    natural_fks = [
        field.name
        for field in model._meta.fields
        if field.remote_field is not None and hasattr(field.remote_field.model, "natural_key")
    ]
    if natural_fks and not queryset.query.is_sliced:
        queryset = queryset.select_related(*natural_fks)
    return queryset


def iterate_objects(queryset: Any, chunk_size: int) -> Iterator[models.Model]:
    """Rows of a queryset without caching them all; an already evaluated queryset (or a list) is used as is."""
    if isinstance(queryset, models.QuerySet) and queryset._result_cache is None:
        yield from optimise(queryset).iterator(chunk_size=chunk_size)
    else:
        yield from queryset


class _Serializer(python_serializer.Serializer):
    """Django's python serializer, reading M2M values loaded per batch instead of querying per row.

    (Django's own builds a queryset per row and M2M field even when the values are prefetched.)
    """

    omit: frozenset[str] = frozenset()

    def _omitted(self, obj: models.Model, field: models.Field) -> bool:
        return bool(self.omit) and f"{obj._meta.label_lower}.{field.name}" in self.omit

    def handle_field(self, obj: models.Model, field: models.Field) -> None:
        if not self._omitted(obj, field):
            super().handle_field(obj, field)

    def handle_fk_field(self, obj: models.Model, field: models.Field) -> None:
        if not self._omitted(obj, field):
            super().handle_fk_field(obj, field)

    def handle_m2m_field(self, obj: models.Model, field: models.ManyToManyField) -> None:
        if self._omitted(obj, field):
            return
        loaded = getattr(obj, "_synctools_m2m", None)
        if loaded is not None and field.name in loaded:
            self._current[field.name] = loaded[field.name]
        else:
            super().handle_m2m_field(obj, field)


def load_m2m(objects: list[models.Model]) -> None:
    """Two queries per M2M field per batch: the through rows, and natural keys of the targets if used."""
    by_model: dict[type[models.Model], list[models.Model]] = {}
    for obj in objects:
        by_model.setdefault(type(obj), []).append(obj)
    for model, group in by_model.items():
        fields = [f for f in model._meta.many_to_many if f.remote_field.through._meta.auto_created]
        if not fields:
            continue
        db = group[0]._state.db or DEFAULT_DB_ALIAS
        pks = [obj.pk for obj in group]
        values: dict[str, dict[Any, list]] = {}
        for field in fields:
            through = field.remote_field.through
            source = through._meta.get_field(field.m2m_field_name()).attname
            target = through._meta.get_field(field.m2m_reverse_field_name()).attname
            pairs = list(
                through._base_manager.using(db)
                .filter(**{f"{source}__in": pks})
                .order_by("pk")
                .values_list(source, target)
            )
            target_model = field.remote_field.model
            if hasattr(target_model, "natural_key"):
                targets = target_model._base_manager.using(db).in_bulk({t for _, t in pairs})
                pairs = [(s_, targets[t].natural_key()) for s_, t in pairs if t in targets]
            else:
                target_pk = target_model._meta.pk
                pairs = [(s_, t if is_protected_type(t) else target_pk.to_python(t)) for s_, t in pairs]
            per_object: dict[Any, list] = {}
            for source_pk, value in pairs:
                per_object.setdefault(source_pk, []).append(value)
            values[field.name] = per_object
        for obj in group:
            obj._synctools_m2m = {name: per_object.get(obj.pk, []) for name, per_object in values.items()}


def encode_objects(objects: list[models.Model], omit: frozenset[str] = frozenset(), *, natural_pks: bool = True) -> str:
    """Django's JSON serializer format for these objects, without the enclosing brackets.

    `omit`: "app_label.model_name.field_name" of fields never sent (secrets); clients keep their own values.
    `natural_pks`: leave out the pk of rows that have a natural key (`dumpdata --natural-primary`); False keeps
    it, for readers that match by id (`loaddata`) and rows that refer to such a row by its id.
    """
    load_m2m(objects)
    serializer = _Serializer()
    serializer.omit = omit
    data = serializer.serialize(objects, use_natural_foreign_keys=True, use_natural_primary_keys=natural_pks)
    return _ENCODER.encode(data)[1:-1]


def encode_tombstones(model: type[models.Model], entries: list[tuple[Any, Any]]) -> str:
    """Deletions as reserved entries: the source pk and, for models with natural keys, the natural key."""
    label = model_label(model)
    data = []
    for pk, natural_key in entries:
        fields: dict[str, Any] = {"model": label}
        if natural_key is not None:
            fields["natural_key"] = natural_key
        data.append({"model": TOMBSTONE_MODEL, "pk": pk, "fields": fields})
    return _ENCODER.encode(data)[1:-1]


class ArrayWriter:
    """Joins encoded batches into one JSON array, yielding bytes as batches come."""

    def __init__(self) -> None:
        self.started = False

    def open(self) -> bytes:
        return b"["

    def batch(self, text: str) -> bytes:
        if not text:
            return b""
        prefix = ", " if self.started else ""
        self.started = True
        return (prefix + text).encode()

    def close(self) -> bytes:
        return b"]"


def encode_batches(
    queryset: Any, chunk_size: int, omit: frozenset[str] = frozenset(), *, natural_pks: bool = True
) -> Iterator[str]:
    """A queryset's rows as encoded batches of `chunk_size` (no brackets)."""
    batch: list[models.Model] = []
    for obj in iterate_objects(queryset, chunk_size):
        batch.append(obj)
        if len(batch) >= chunk_size:
            yield encode_objects(batch, omit, natural_pks=natural_pks)
            batch = []
    if batch:
        yield encode_objects(batch, omit, natural_pks=natural_pks)


def serialize_stream(
    querysets: Iterable[Any], chunk_size: int = 1000, omit: frozenset[str] = frozenset(), *, natural_pks: bool = True
) -> Iterator[bytes]:
    """The full body for these querysets, `chunk_size` rows at a time."""
    writer = ArrayWriter()
    yield writer.open()
    for queryset in querysets:
        for text in encode_batches(queryset, chunk_size, omit, natural_pks=natural_pks):
            yield writer.batch(text)
    yield writer.close()


def gzip_stream(chunks: Iterable[bytes], level: int) -> Iterator[bytes]:
    """gzip each chunk as it comes (sync flush), so compression never holds the body back."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    for chunk in chunks:
        if chunk:
            data = compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH)
            if data:
                yield data
    yield compressor.flush(zlib.Z_FINISH)
