"""The work queue: sync marks written by agents and the bridge, claims, back-off and per-site status."""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F, Q

from tracker import conf
from tracker.models import FILE_KINDS, Node, SiteState
from tracker.services.columns import (
    INT32_MAX,
    _int_or_none,
    _json_patch,
    _make_node,
    _set_columns,
    _wanted_flag,
    new_child_id,
    now_ms,
)
from tracker.services.errors import NotFound
from tracker.services.postgres import _pg_pending
from tracker.services.sitestate import _refresh_states, get_volume, sync_everywhere

_NODE_TABLE = Node._meta.db_table
_STATE_TABLE = SiteState._meta.db_table
_SQLITE_CHUNK = 900  # values per IN list on SQLite (well under its variable limit)


def _in_chunks(values: list) -> list[tuple[str, list]]:
    """An `IN` condition over `values` as (SQL, parameters) pieces: one `= ANY` on PostgreSQL, chunks on SQLite.

    The agent's hot path passes 1,000 values per statement; building them as ORM lookups costs more CPU than the
    statement itself."""
    if connection.vendor == "postgresql":
        return [("= ANY(%s)", [list(values)])]
    return [
        (f"IN ({', '.join(['%s'] * len(chunk))})", chunk)
        for chunk in (values[start : start + _SQLITE_CHUNK] for start in range(0, len(values), _SQLITE_CHUNK))
    ]


def _file_rows(paths: list[str]) -> list[tuple[int, int, bool]]:
    """(pk, time, deleted) of the nodes of these paths, in a statement per chunk, no model instances."""
    rows: list[tuple[int, int, bool]] = []
    with connection.cursor() as cursor:
        for condition, params in _in_chunks(list(set(paths))):
            cursor.execute(f"SELECT id, time, deleted FROM {_NODE_TABLE} WHERE node_id {condition}", params)  # noqa: S608
            rows += [(pk, time, bool(deleted)) for pk, time, deleted in cursor.fetchall()]
    return rows


def _update_states(site: str | None, node_pks: list[int], assignments: dict) -> None:
    """`UPDATE tracker_sitestate SET ...` for these nodes at `site` (every site when None), set-based."""
    if not node_pks:
        return
    columns = ", ".join(f"{name} = %s" for name in assignments)
    values = list(assignments.values())
    site_sql = "site = %s AND " if site is not None else ""
    site_params = [site] if site is not None else []
    with connection.cursor() as cursor:
        for condition, params in _in_chunks(node_pks):
            cursor.execute(
                f"UPDATE {_STATE_TABLE} SET {columns} WHERE {site_sql}node_id {condition}",  # noqa: S608
                [*values, *site_params, *params],
            )


def mark_syncing(path: str, site: str, when: int | None = None) -> None:
    """An agent started copying `path` to `site`."""
    when = now_ms() if when is None else int(when)
    with transaction.atomic():
        rows = _file_rows([path])
        if not rows:
            raise NotFound(f"{path} not found", path)
        pks = [r[0] for r in rows]
        _json_patch(pks, {f"syncing_{site}": when})
        SiteState.objects.filter(node_id__in=pks, site=site).update(syncing=when)


def mark_synced(path: str, site: str, when: int | None = None) -> None:
    """`path` is now at `site` as of `when`; clears the claim and any error."""
    with transaction.atomic():
        if not mark_synced_many([path], site, when):
            raise NotFound(f"{path} not found", path)


def mark_synced_many(paths: list[str], site: str, when: int | None = None) -> int:
    """Bulk mark_synced in a few queries; returns how many nodes were found."""
    when = now_ms() if when is None else int(when)
    with transaction.atomic():
        rows = _file_rows(paths)
        pks = [r[0] for r in rows]
        _json_patch(
            pks,
            {f"synced_{site}": when},
            [f"syncing_{site}", f"syncError_{site}", f"syncLastAttempt_{site}", f"syncErrorMessage_{site}"],
        )
        cleared = {"synced": when, "syncing": None, "error": None, "last_attempt": None, "failures": 0}
        outdated = [pk for pk, t, deleted in rows if not deleted and (t or 0) > when]
        current = [pk for pk, t, deleted in rows if deleted or (t or 0) <= when]
        _update_states(site, outdated, {"active": True, **cleared})
        _update_states(site, current, {"active": False, **cleared})
    return len(rows)


def mark_error(path: str, site: str, code: int, message: str = "") -> None:
    """Copying `path` to `site` failed with `code` (rsync's exit status); the file backs off before retrying."""
    with transaction.atomic():
        if not mark_error_many([(path, code, message)], site):
            raise NotFound(f"{path} not found", path)


def mark_error_many(errors: list[tuple[str, int, str]], site: str) -> int:
    """Bulk mark_error: grouped by (code, message) so it stays a few queries."""
    now = now_ms()
    groups: dict[tuple[int, str], list[str]] = {}
    for path, code, message in errors:
        groups.setdefault((int(code), message or ""), []).append(path)
    found = 0
    with transaction.atomic():
        for (raw_code, message), paths in groups.items():
            code = max(-INT32_MAX - 1, min(INT32_MAX, raw_code))
            rows = _file_rows(paths)
            pks = [r[0] for r in rows]
            found += len(pks)
            set_keys: dict = {f"syncError_{site}": code, f"syncLastAttempt_{site}": now}
            remove = [f"syncing_{site}"]
            if message:
                set_keys[f"syncErrorMessage_{site}"] = message[:2000]
            else:
                remove.append(f"syncErrorMessage_{site}")
            _json_patch(pks, set_keys, remove)
            SiteState.objects.filter(node_id__in=pks, site=site).update(
                error=code, last_attempt=now, syncing=None, failures=F("failures") + 1
            )
    return found


def mark_modified(path: str, site: str, *, file_mtime: int, file_size: int) -> None:
    """A scan at `site` saw `path` change: it becomes the source (origin), every other site is outdated."""
    now = now_ms()
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(node_id=path).first()
        if node is None:
            raise NotFound(f"{path} not found", path)
        node.data.update(
            {
                f"modified_{site}": now,
                "file_mtime": int(file_mtime),
                "file_size": int(file_size),
                "time": now,
                "origin": site,
                f"synced_{site}": now,
            }
        )
        for key in (f"syncing_{site}", f"syncError_{site}", f"syncLastAttempt_{site}"):
            node.data.pop(key, None)
        _set_columns(node)
        node.save()
        Node.objects.bulk_create(
            [
                _make_node(
                    new_child_id(),
                    {
                        "#parent": path,
                        "comment": f"modified at {site}",
                        "origin": site,
                        "author": node.data.get("author", "system"),
                        "time": now,
                    },
                )
            ]
        )
        _refresh_states([node])


def mark_deleted_many(paths: list[str], site: str) -> int:
    """Files removed at `site` (`deleted: true`): no site is asked to fetch them any more."""
    now = now_ms()
    with transaction.atomic():
        pks = list(Node.objects.filter(node_id__in=set(paths)).values_list("pk", flat=True))
        _json_patch(pks, {"deleted": True, f"deleted_{site}": now})
        Node.objects.filter(pk__in=pks).update(deleted=True)
        SiteState.objects.filter(node_id__in=pks).update(active=False)
    return len(pks)


def _backoff_q(now: int) -> Q:
    """Files whose last failure is old enough for another try (exponential backoff per failure count)."""
    base = conf.retry_base_seconds() * 1000
    ceiling = conf.retry_max_seconds() * 1000
    q = Q(error__isnull=True) | Q(last_attempt__isnull=True)
    failures = 1
    while True:
        delay = min(base * 2 ** (failures - 1), ceiling)
        if delay >= ceiling or failures > 30:
            q |= Q(failures__gte=failures, last_attempt__lte=now - delay)
            return q | Q(failures__lt=1, last_attempt__lte=now - base)
        q |= Q(failures=failures, last_attempt__lte=now - delay)
        failures += 1


def _queue(site: str, now: int, *, open_only: bool = False):
    """State rows `site` should fetch now. `open_only`: unclaimed rows only (after _release_stale)."""
    wanted = Q(wanted=True)
    if sync_everywhere():
        wanted |= Q(wanted__isnull=True)
    if open_only:
        claim = Q(syncing__isnull=True)
    else:
        claim = Q(syncing__isnull=True) | Q(syncing__lt=now - conf.syncing_stale_seconds() * 1000)
    return SiteState.objects.filter(wanted & claim & _backoff_q(now), site=site, active=True)


def _release_stale(site: str, now: int) -> None:
    """Claims older than TRACKER_SYNCING_STALE_SECONDS are given back (their agent is presumed gone)."""
    stale = now - conf.syncing_stale_seconds() * 1000
    rows = list(SiteState.objects.filter(site=site, syncing__lt=stale).values_list("pk", "node_id"))
    if rows:
        SiteState.objects.filter(pk__in=[r[0] for r in rows]).update(syncing=None)
        _json_patch([r[1] for r in rows], {}, [f"syncing_{site}"])


def _claim(qs, site: str, limit: int, now: int) -> list[dict]:
    qs = qs.order_by("-priority", "time", "path")
    rows = list(qs.values_list("pk", "node_id")[:limit])
    if not rows:
        return []
    state_pks = [r[0] for r in rows]
    node_pks = [r[1] for r in rows]
    SiteState.objects.filter(pk__in=state_pks).update(syncing=now)
    _json_patch(node_pks, {f"syncing_{site}": now})
    nodes = {n.pk: n for n in Node.objects.filter(pk__in=node_pks)}
    return [nodes[pk].as_wire() for pk in node_pks if pk in nodes]


def _claim_rows(qs, site: str, limit: int, now: int) -> list[tuple[str, str | None]]:
    """Claim the best `limit` rows of the queue `qs`: (path, origin) of each, nothing else read."""
    rows = list(qs.order_by("-priority", "time", "path").values_list("pk", "node_id", "path", "node__origin")[:limit])
    if not rows:
        return []
    with connection.cursor() as cursor:
        for condition, params in _in_chunks([r[0] for r in rows]):
            cursor.execute(f"UPDATE {_STATE_TABLE} SET syncing = %s WHERE id {condition}", [now, *params])  # noqa: S608
    _json_patch([r[1] for r in rows], {f"syncing_{site}": now})
    return [(path, origin) for _pk, _node, path, origin in rows]


def claim_paths(site: str, limit: int, *, origin: str | None = None) -> list[tuple[str, str | None]]:
    """The agent's claim: what pending_for_site (or, with `origin`, emission_for_site) claims, answered as
    (path, origin) pairs instead of whole nodes, so a batch of 1,000 decodes no JSON document.

    Claims are disjoint between agents: on PostgreSQL the rows are locked with SKIP LOCKED; on SQLite the
    transaction is IMMEDIATE (the write lock is taken before the queue is read), so a second agent reads the
    queue only after the first one's claim is committed. A claim older than TRACKER_SYNCING_STALE_SECONDS
    (its agent died) is given back first.
    """
    now = now_ms()
    if limit <= 0:
        return []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _pg_pending(site, limit, now, origin=origin, lean=True)
        _release_stale(site, now)
        queue = _queue(site, now, open_only=True)
        if origin is not None:
            queue = queue.filter(node__origin=origin)
        return _claim_rows(queue, site, limit, now)


def batch_size(volume: dict | None, key: str) -> int:
    """A work-queue batch: the volume's `key` (syncAmountReception, syncAmountEmission) when it is a positive
    number, else TRACKER_DEFAULT_BATCH. The agent and the queue read it through here, so they agree."""
    amount = (volume or {}).get(key)
    if isinstance(amount, str) and amount.strip().isdigit():
        amount = int(amount)
    amount = _int_or_none(amount)
    if amount and amount > 0:
        return amount
    return conf.default_batch_size()


def pending_for_site(site: str, limit: int | None = None) -> list[dict]:
    """The work queue and a claim: files `site` must fetch, best first, marked `syncing_<site>` = now.

    Two agents never get the same file: rows are locked with SKIP LOCKED on PostgreSQL, and the claim
    (`syncing_<site>`) hides them from later calls until they are synced, failed, released or stale.
    """
    now = now_ms()
    with transaction.atomic():
        if limit is None:
            limit = batch_size(get_volume(site), "syncAmountReception")
        if limit <= 0:
            return []
        if connection.vendor == "postgresql":
            return _pg_pending(site, limit, now)
        _release_stale(site, now)
        return _claim(_queue(site, now, open_only=True), site, limit, now)


def pending_count(site: str) -> int:
    """How many files pending_for_site would offer right now (nothing is claimed)."""
    return _queue(site, now_ms()).count()


def emission_for_site(site: str, destination: str, limit: int | None = None) -> list[dict]:
    """Files originating at `site` that `destination` wants and lacks, claimed for `destination`."""
    now = now_ms()
    with transaction.atomic():
        if limit is None:
            limit = batch_size(get_volume(site), "syncAmountEmission")
        if limit <= 0:
            return []
        if connection.vendor == "postgresql":
            return _pg_pending(destination, limit, now, origin=site)
        _release_stale(destination, now)
        origin_pks = Node.objects.filter(origin=site, kind__in=FILE_KINDS).values("pk")
        queue = _queue(destination, now, open_only=True).filter(node_id__in=origin_pks)
        return _claim(queue, destination, limit, now)


def release_claims(paths: list[str], site: str) -> int:
    """Give claimed files back to the queue (an agent shutting down)."""
    with transaction.atomic():
        pks = list(Node.objects.filter(node_id__in=set(paths)).values_list("pk", flat=True))
        _json_patch(pks, {}, [f"syncing_{site}"])
        SiteState.objects.filter(node_id__in=pks, site=site).update(syncing=None)
    return len(pks)


def site_status(node: Node | dict, site: str, global_everywhere: bool | None = None) -> str:
    """One word per site for people: origin, synced, outdated, syncing, error, not wanted, missing."""
    data = node.data if isinstance(node, Node) else {k: v for k, v in node.items() if k != "_id"}
    if data.get("origin") == site:
        return "origin"
    wanted = _wanted_flag(data, site)
    if wanted is None:
        wanted = sync_everywhere() if global_everywhere is None else global_everywhere is not False
    if data.get(f"syncing_{site}") is not None:
        return "syncing"
    if data.get(f"syncError_{site}") is not None:
        return "error"
    synced = _int_or_none(data.get(f"synced_{site}"))
    if synced is not None:
        return "synced" if synced >= (_int_or_none(data.get("time")) or 0) else "outdated"
    return "missing" if wanted else "not wanted"


def deletions_for_site(site: str, limit: int) -> list[str]:
    """Files deleted at their origin (`deleted` with `deleted_<origin>`, which the origin's scan sets) that `site`
    still holds (`synced_<site>`), at most `limit`, by path. A deletion seen at another site than the origin is
    not propagated: only the origin says a file is gone."""
    if limit <= 0:
        return []
    if connection.vendor == "postgresql":
        deleted_at_origin = "n.data ? ('deleted_' || n.origin)"
    else:
        deleted_at_origin = "json_type(n.data, '$.\"deleted_' || n.origin || '\"') IS NOT NULL"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT n.node_id FROM {_NODE_TABLE} n JOIN {_STATE_TABLE} s ON s.node_id = n.id
            WHERE n.deleted AND n.origin IS NOT NULL AND s.site = %s AND s.synced IS NOT NULL
              AND {deleted_at_origin}
            ORDER BY n.node_id LIMIT %s
            """,  # noqa: S608 - fixed SQL; values are parameters
            [site, limit],
        )
        return [row[0] for row in cursor.fetchall()]


def mark_trashed_many(paths: list[str], site: str, when: int | None = None) -> int:
    """`site` moved these deleted files into its trash: `trashed_<site>` is set and `synced_<site>` removed, so
    deletions_for_site does not offer them again."""
    when = now_ms() if when is None else int(when)
    with transaction.atomic():
        pks = [pk for pk, _time, _deleted in _file_rows(paths)]
        _json_patch(pks, {f"trashed_{site}": when}, [f"synced_{site}", f"syncing_{site}"])
        _update_states(site, pks, {"synced": None, "syncing": None, "active": False})
    return len(pks)
