"""What the tracker knows about every file, trimmed to the keys a scan compares (read-only, streamed).

`services.iter_file_nodes` builds a model instance and decodes the whole JSON document of every node; a scan
of 100,000 files only needs eight values per node, so this reads just those, in keyset pages on `_id`.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models.fields.json import KeyTextTransform

from tracker.models import FILE_KINDS, Node


def _number(value: object) -> int | float | None:
    """A JSON number read as text (`->>`): no JSON decoding per value; anything else counts as absent."""
    if value is None or isinstance(value, int | float):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None


def iter_scan_nodes(site: str, *, batch_size: int = 5000) -> Iterator[dict]:
    """Every file node as {_id, origin, time, deleted, file_mtime, file_size, synced_<site>, syncing_<site>}."""
    synced_key, syncing_key = f"synced_{site}", f"syncing_{site}"
    base = (
        Node.objects.filter(kind__in=FILE_KINDS)
        .annotate(
            k_mtime=KeyTextTransform("file_mtime", "data"),
            k_size=KeyTextTransform("file_size", "data"),
            k_synced=KeyTextTransform(synced_key, "data"),
            k_syncing=KeyTextTransform(syncing_key, "data"),
        )
        .order_by("node_id")
    )
    columns = ("node_id", "origin", "time", "deleted", "k_mtime", "k_size", "k_synced", "k_syncing")
    last = None
    while True:
        page = base.filter(node_id__gt=last) if last is not None else base
        rows = list(page.values_list(*columns)[:batch_size])
        if not rows:
            return
        for node_id, origin, time, deleted, mtime, size, synced, syncing in rows:
            node = {"_id": node_id, "origin": origin, "time": time}
            if mtime is not None:
                node["file_mtime"] = _number(mtime)
            if size is not None:
                node["file_size"] = _number(size)
            if deleted:
                node["deleted"] = True
            if synced is not None:
                node[synced_key] = _number(synced)
            if syncing is not None:
                node[syncing_key] = syncing
            yield node
        last = rows[-1][0]
