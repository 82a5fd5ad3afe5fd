"""Sites: volume names, volume and global-parameter reads, and the SiteState rows kept in step with them."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import connection
from django.db.models import Exists, OuterRef

from tracker.models import FILE_KINDS, Node, NodeKind, SiteState
from tracker.services.columns import (
    _STATE_UPDATE_FIELDS,
    GLOBAL_DEFAULTS,
    GLOBAL_PARAMETERS_ID,
    _state_for,
    _volume_name,
)
from tracker.services.postgres import _pg_insert_states


def _refresh_states(nodes: Iterable[Node], site_names: list[str] | None = None, *, new: bool = False) -> None:
    """Make the SiteState rows of these nodes match their JSON keys (new nodes: plain insert)."""
    files = [n for n in nodes if n.kind in FILE_KINDS]
    if not files:
        return
    site_names = sites() if site_names is None else site_names
    if not site_names:
        return
    if new and connection.vendor == "postgresql":
        _pg_insert_states("n.id = ANY(%s)", [[n.pk for n in files]], site_names)
        return
    rows = [_state_for(n, s) for n in files for s in site_names if n.origin != s]
    if new:
        SiteState.objects.bulk_create(rows, batch_size=5000, ignore_conflicts=True)
        return
    ids = [n.pk for n in files]
    # The origin never has a row (it may have changed); sites that vanished lose theirs.
    SiteState.objects.filter(node_id__in=ids).exclude(site__in=site_names).delete()
    by_origin: dict[str, list[int]] = {}
    for n in files:
        if n.origin:
            by_origin.setdefault(n.origin, []).append(n.pk)
    for origin, pks in by_origin.items():
        SiteState.objects.filter(node_id__in=pks, site=origin).delete()
    if rows:
        SiteState.objects.bulk_create(
            rows,
            batch_size=2000,
            update_conflicts=True,
            unique_fields=["node", "site"],
            update_fields=_STATE_UPDATE_FIELDS,
        )
        # The failure count survives rewrites of the JSON; it restarts when the error goes away.
        SiteState.objects.filter(node_id__in=ids, error__isnull=True, failures__gt=0).update(failures=0)
        SiteState.objects.filter(node_id__in=ids, error__isnull=False, failures=0).update(failures=1)


def _backfill_site(site: str) -> None:
    """A new site: every tracked file gets its state row there (SQL on PostgreSQL, batches elsewhere)."""
    if connection.vendor == "postgresql":
        _pg_insert_states("TRUE", [], [site])
        return
    last = 0
    while True:
        batch = list(Node.objects.filter(kind__in=FILE_KINDS, pk__gt=last).order_by("pk")[:5000])
        if not batch:
            return
        last = batch[-1].pk
        rows = [_state_for(n, site) for n in batch if n.origin != site]
        SiteState.objects.bulk_create(rows, ignore_conflicts=True)


def remove_orphan_states() -> int:
    """Delete the state rows whose node is gone; how many.

    The table has no foreign key (SiteState.node), and writes that delete nodes outside the tracker's own
    deletion (which locks the nodes first), racing with a new site's backfill, could leave such rows behind:
    the agent would claim them and find no file. One statement, an anti-join: run daily.
    """
    orphans = SiteState.objects.filter(~Exists(Node.objects.filter(pk=OuterRef("node_id"))))
    return orphans.delete()[0]


def _sites_changed(before: set[str], after: set[str]) -> None:
    for gone in before - after:
        SiteState.objects.filter(site=gone).delete()
    for added in after - before:
        _backfill_site(added)


def sites() -> list[str]:
    """Names of all volumes, sorted."""
    rows = Node.objects.filter(kind=NodeKind.VOLUME).values_list("node_id", "data")
    return sorted({_volume_name(node_id, data) for node_id, data in rows})


_column_sources: dict[str, Callable[[], Iterable[str]]] = {}


def register_column_sites(name: str, source: Callable[[], Iterable[str]]) -> None:
    """Another app offers sites it feeds without a volume (the Syncthing bridge marks files synced at its daemons'
    sites): the pages show them as columns like volumes. Registering a name again replaces its source."""
    _column_sources[name] = source


def column_sites() -> list[str]:
    """The sites the pages show as columns: every volume and every site a registered feeder names, sorted."""
    names = set(sites())
    for source in _column_sources.values():
        names.update(site for site in source() if site)
    return sorted(names)


def _volume_node(site: str) -> Node | None:
    vols = Node.objects.filter(kind=NodeKind.VOLUME)
    return vols.filter(data__name=site).order_by("pk").first() or vols.filter(node_id=site).first()


def get_volume(site: str) -> dict | None:
    node = _volume_node(site)
    return node.as_wire() if node else None


def volumes() -> list[dict]:
    return [n.as_wire() for n in Node.objects.filter(kind=NodeKind.VOLUME).order_by("node_id")]


def global_parameters() -> dict:
    """The rsyncGlobalParameters node over the defaults."""
    node = Node.objects.filter(node_id=GLOBAL_PARAMETERS_ID).only("data").first()
    return {**GLOBAL_DEFAULTS, **(node.data if node else {})}


def sync_everywhere(parameters: dict | None = None) -> bool:
    """The global destination rule: a file no key of its own filters goes to every site unless
    rsyncGlobalParameters says `syncEverywhere: false`. `parameters`: that node's keys, when already read."""
    keys = global_parameters() if parameters is None else parameters
    return keys.get("syncEverywhere", GLOBAL_DEFAULTS["syncEverywhere"]) is not False
