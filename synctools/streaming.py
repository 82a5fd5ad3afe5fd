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
from django.db import models

# Wire extras. Plain clients never see them unless they ask for an incremental reply.
TOMBSTONE_MODEL = "synctools.tombstone"  # reserved name: {"model": ..., "pk": pk, "fields": {"model": label}}
CURSOR_HEADER = "X-Synctools-Cursor"
MODELS_HEADER = "X-Synctools-Models"
INCREMENTAL_HEADER = "X-Synctools-Incremental"
SINCE_PARAM = "since"

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
    """Fetch natural foreign keys and M2M ids with the rows: a constant number of queries per batch."""
    model = queryset.model
    natural_fks = [
        field.name
        for field in model._meta.fields
        if field.remote_field is not None and hasattr(field.remote_field.model, "natural_key")
    ]
    m2m = [field.name for field in model._meta.many_to_many if field.remote_field.through._meta.auto_created]
    try:
        if natural_fks:
            queryset = queryset.select_related(*natural_fks)
        if m2m:
            queryset = queryset.prefetch_related(*m2m)
    except TypeError:  # sliced querysets cannot be changed: serve them as they are
        return queryset
    return queryset


def iterate_objects(queryset: Any, chunk_size: int) -> Iterator[models.Model]:
    """Rows of a queryset without caching them all; an already evaluated queryset (or a list) is used as is."""
    if isinstance(queryset, models.QuerySet) and queryset._result_cache is None:
        queryset = optimise(queryset)
        yield from queryset.iterator(chunk_size=chunk_size)
    else:
        yield from queryset


def encode_objects(objects: list[models.Model]) -> str:
    """Django's JSON serializer format for these objects, without the enclosing brackets."""
    data = python_serializer.Serializer().serialize(
        objects, use_natural_foreign_keys=True, use_natural_primary_keys=True
    )
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


def encode_batches(queryset: Any, chunk_size: int) -> Iterator[str]:
    """A queryset's rows as encoded batches of `chunk_size` (no brackets)."""
    batch: list[models.Model] = []
    for obj in iterate_objects(queryset, chunk_size):
        batch.append(obj)
        if len(batch) >= chunk_size:
            yield encode_objects(batch)
            batch = []
    if batch:
        yield encode_objects(batch)


def serialize_stream(querysets: Iterable[Any], chunk_size: int = 1000) -> Iterator[bytes]:
    """The full body for these querysets, `chunk_size` rows at a time."""
    writer = ArrayWriter()
    yield writer.open()
    for queryset in querysets:
        for text in encode_batches(queryset, chunk_size):
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
