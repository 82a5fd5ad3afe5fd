"""Nodes: reads, writes, publish, comments, versions, locks and the graph walk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from django.db import IntegrityError, connection, transaction

from syncsite import changes
from tracker import conf, limits, permissions
from tracker.models import FILE_KINDS, Node, NodeKind, SiteState, UserClass
from tracker.services.actors import Actor, _judge_write
from tracker.services.columns import (
    _columns,
    _int_or_none,
    _json_patch,
    _make_node,
    _set_columns,
    _split_wire,
    _state_values,
    new_child_id,
    now_ms,
    validate_file_id,
    validate_node_id,
)
from tracker.services.errors import AlreadyExists, Conflict, Forbidden, InvalidId, InvalidInput, NotFound, TrackerError
from tracker.services.postgres import _pg_insert_nodes, _pg_publish
from tracker.services.sitestate import _refresh_states, _sites_changed, sites


def get_node(node_id: str) -> dict | None:
    node = Node.objects.filter(node_id=node_id).first()
    return node.as_wire() if node else None


def get_nodes(node_ids: list[str]) -> list[dict | None]:
    """Nodes in input order; None where missing."""
    found = {n.node_id: n for n in Node.objects.filter(node_id__in=set(node_ids))}
    return [found[i].as_wire() if i in found else None for i in node_ids]


def read_nodes(node_ids: list[object], actor: Actor | None = None) -> list[dict | None]:
    """`/api/read/`: like get_nodes, with authorMode hiding other people's nodes."""
    valid = [i for i in node_ids if isinstance(i, str)]
    found = {n.node_id: n for n in Node.objects.filter(node_id__in=set(valid))}
    out: list[dict | None] = []
    for node_id in node_ids:
        node = found.get(node_id) if isinstance(node_id, str) else None
        if node is None or (conf.author_mode() and not permissions.is_author(actor, node.data)):
            out.append(None)
        else:
            out.append(readable(node, actor))
    return out


def readable(node: Node, actor: Actor | None) -> dict:
    """The wire form of a node as this reader may see it (secrets and, for guests, addresses left out)."""
    return permissions.redact(actor, node.as_wire(), permissions.kind_of(node.node_id, node.kind))


def visible_nodes(actor: Actor | None):
    """Queryset of the nodes this actor may see (authorMode)."""
    qs = Node.objects.all()
    if conf.author_mode() and actor is not None and not actor.is_admin:
        qs = qs.filter(authors__contains=f"|{actor.name}|")
    return qs


def iter_file_nodes(prefix: str = "/", *, batch_size: int = 2000) -> Iterator[dict]:
    """Every file and folder node under `prefix`, streamed in keyset pages (constant memory).

    Pages follow insertion order (the primary key), which stays an index walk even for the whole tree.
    """
    last = 0
    while True:
        qs = Node.objects.filter(kind__in=FILE_KINDS, node_id__startswith=prefix, pk__gt=last)
        batch = list(qs.order_by("pk")[:batch_size])
        if not batch:
            return
        for node in batch:
            yield node.as_wire()
        last = batch[-1].pk


def children_of(node_id: str, limit: int = 200) -> list[dict]:
    return [n.as_wire() for n in Node.objects.filter(parent=node_id).order_by("time", "node_id")[:limit]]


def create_nodes(
    items: list, actor: Actor | None = None, *, op: permissions.Op = permissions.Op.CREATE
) -> list[dict | TrackerError]:
    """`/api/create/` (and the create half of upsert): new nodes in input order; an error in place of each failure."""
    now = now_ms()
    results: list[dict | TrackerError | None] = [None] * len(items)
    pending: list[tuple[int, Node]] = []
    wanted_ids: list[str] = []
    for index, item in enumerate(items):
        try:
            node_id, data = _split_wire(item)
            node_id = new_child_id() if node_id is None else validate_node_id(node_id)
            if node_id.startswith("@"):
                raise Forbidden("user nodes are made from Django users, not created through the API", node_id)
            data, _, _ = _judge_write(actor, op, node_id, None, data)
            if "author" not in data:
                data["author"] = actor.name if actor else "system"
            if "time" not in data:
                data["time"] = now
            pending.append((index, _make_node(node_id, data)))
            wanted_ids.append(node_id)
        except TrackerError as exc:
            results[index] = exc
    with transaction.atomic():
        before_sites = set(sites())
        existing = set(Node.objects.filter(node_id__in=wanted_ids).values_list("node_id", flat=True))
        to_insert: list[Node] = []
        for index, node in pending:
            if node.node_id in existing:
                results[index] = AlreadyExists(f"{node.node_id} already exists", node.node_id)
                continue
            existing.add(node.node_id)
            to_insert.append(node)
            results[index] = node
        _insert_nodes(to_insert)
        after_sites = _after_volume_write(before_sites, to_insert)
        _refresh_states(to_insert, sorted(after_sites), new=True)
    return [r.as_wire() if isinstance(r, Node) else r for r in results]


def _insert_nodes(nodes: list[Node]) -> None:
    """Insert new nodes and set their pk. On PostgreSQL one statement unpacks a JSON array server-side."""
    if not nodes:
        return
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                _pg_insert_nodes(nodes)
            else:
                Node.objects.bulk_create(nodes, batch_size=2000)
    except IntegrityError as exc:
        # Another writer created one of these ids between our check and the insert.
        raise AlreadyExists("a node with one of these ids was just created by someone else") from exc


def _after_volume_write(before_sites: set[str], nodes: Iterable[Node]) -> set[str]:
    if not any(n.kind == NodeKind.VOLUME for n in nodes):
        return before_sites
    after = set(sites())
    _sites_changed(before_sites, after)
    return after


def update_node(node_id: str, changes: dict, *, author: str | None = None) -> dict:
    """Set keys on one node (None removes a key). `author`, when given, is the actor for authorMode; code
    calling services is trusted with every other rule of the permission matrix."""
    actor = Actor(author) if author else None
    result = update_nodes([{"_id": node_id, **changes}], actor, trusted=True)[0]
    if isinstance(result, TrackerError):
        raise result
    return result


def update_nodes(
    items: list, actor: Actor | None = None, *, upsert: bool = False, trusted: bool = False
) -> list[dict | TrackerError]:
    """`/api/update/` (and the update half of upsert): merge keys, None removes; input order.

    `trusted` (calls from code, not from the API) skips the permission matrix except authorMode; a volume's rsync
    values are checked for everyone."""
    results: list[dict | TrackerError | None] = [None] * len(items)
    parsed: list[tuple[int, str, dict]] = []
    for index, item in enumerate(items):
        try:
            node_id, changes = _split_wire(item)
            node_id = validate_node_id(node_id)
            if upsert:
                changes.pop("author", None)
                changes.pop("time", None)
            parsed.append((index, node_id, changes))
        except TrackerError as exc:
            results[index] = exc
    with transaction.atomic():
        before_sites = set(sites())
        nodes = {n.node_id: n for n in Node.objects.select_for_update().filter(node_id__in={p[1] for p in parsed})}
        changed: dict[str, Node] = {}
        touched_volume = False
        for index, node_id, changes in parsed:
            node = nodes.get(node_id)
            if node is None:
                results[index] = NotFound(f"{node_id} not found", node_id)
                continue
            op = permissions.Op.UPSERT if upsert else permissions.Op.UPDATE
            try:
                after, _, _ = _judge_write(actor, op, node_id, node, changes, trusted=trusted)
            except TrackerError as exc:
                results[index] = exc
                continue
            too_large = _size_error(node_id, node.data, changes)
            if too_large is not None:
                results[index] = too_large
                continue
            touched_volume |= node.kind == NodeKind.VOLUME
            node.data = after
            _set_columns(node)
            touched_volume |= node.kind == NodeKind.VOLUME
            changed[node_id] = node
            results[index] = node
        if changed:
            Node.objects.bulk_update(
                list(changed.values()),
                ["data", "kind", "parent", "origin", "time", "sync_priority", "deleted", "authors"],
                batch_size=500,
            )
            after_sites = set(sites()) if touched_volume else before_sites
            if touched_volume:
                _sites_changed(before_sites, after_sites)
            _refresh_states(changed.values(), sorted(after_sites))
    return [r.as_wire() if isinstance(r, Node) else r for r in results]


def _size_error(node_id: str, data: dict, changes: dict) -> TrackerError | None:
    """The node as a write leaves it (None removes a key) over TRACKER_MAX_NODE_BYTES: the error, else None."""
    merged = {**data, **changes}
    return limits.node_size_error(node_id, {k: v for k, v in merged.items() if v is not None})


def _upsert_once(items: list, actor: Actor | None = None) -> list[dict | TrackerError]:
    """One attempt of `upsert_nodes`, in the caller's transaction."""
    ids = [item.get("_id") if isinstance(item, dict) and isinstance(item.get("_id"), str) else None for item in items]
    if actor is not None and not actor.is_admin:
        # Clients upsert nodes they read back, author and time included: those keys are the server's.
        items = [
            {k: v for k, v in i.items() if k not in ("author", "time")} if isinstance(i, dict) else i for i in items
        ]
    with transaction.atomic():
        existing = set(
            Node.objects.filter(node_id__in=[i for i in ids if isinstance(i, str)]).values_list("node_id", flat=True)
        )
        create_idx = [i for i, node_id in enumerate(ids) if node_id not in existing]
        update_idx = [i for i, node_id in enumerate(ids) if node_id in existing]
        results: list = [None] * len(items)
        created = create_nodes([items[i] for i in create_idx], actor, op=permissions.Op.UPSERT)
        for i, r in zip(create_idx, created, strict=True):
            results[i] = r
        for i, r in zip(update_idx, update_nodes([items[i] for i in update_idx], actor, upsert=True), strict=True):
            results[i] = r
    return results


UPSERT_ATTEMPTS = 5


class _CreatedMeanwhile(Exception):
    """An id this upsert meant to create was created by a concurrent writer first."""


def upsert_nodes(items: list, actor: Actor | None = None) -> list[dict | TrackerError]:
    """`/api/upsert/`: create what is new, update what exists; `author` and `time` are never overwritten.

    Another upsert of the same new id may create it between our read and our insert: the attempt is rolled back
    and made again, and the id, now there, is updated (one creates, the other updates; nobody gets 409).
    """
    for attempt in range(UPSERT_ATTEMPTS):
        last = attempt == UPSERT_ATTEMPTS - 1
        try:
            with transaction.atomic():
                results = _upsert_once(items, actor)
                if not last and any(isinstance(r, AlreadyExists) for r in results):
                    raise _CreatedMeanwhile
                return results
        except (AlreadyExists, _CreatedMeanwhile):
            if last:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


def delete_nodes(node_ids: list, actor: Actor | None = None) -> list[str | TrackerError]:
    """`/api/delete/`: removes the nodes (their sync state goes with them); input order."""
    results: list = [None] * len(node_ids)
    with transaction.atomic():
        before_sites = set(sites())
        valid = [i for i in node_ids if isinstance(i, str)]
        nodes = {n.node_id: n for n in Node.objects.select_for_update().filter(node_id__in=valid)}
        doomed: list[Node] = []
        for index, node_id in enumerate(node_ids):
            node = nodes.get(node_id) if isinstance(node_id, str) else None
            if node is None:
                results[index] = (
                    NotFound(f"{node_id} not found", node_id) if isinstance(node_id, str) else InvalidId("bad _id")
                )
                continue
            try:
                permissions.check_delete(actor, node_id, permissions.kind_of(node_id, node.kind), node.data)
            except TrackerError as exc:
                results[index] = exc
                continue
            if node not in doomed:
                doomed.append(node)
            results[index] = node_id
        pks = [n.pk for n in doomed]
        SiteState.objects.filter(node_id__in=pks).delete()
        Node.objects.filter(pk__in=pks).delete()
        if any(n.kind == NodeKind.VOLUME for n in doomed):
            _sites_changed(before_sites, set(sites()))
    return results


def publish(path: str, *, origin: str, author: str, comment: str = "", **keys) -> dict:
    """Track a new file: the file node plus a child node recording the publication. AlreadyExists if tracked."""
    trusted = Actor(author, UserClass.ADMIN)  # code calling services is trusted with author and time
    result = _publish_items([{**keys, "_id": path, "origin": origin, "comment": comment}], trusted)[0]
    if isinstance(result, TrackerError):
        raise result
    return result


def publish_many(items: list[dict], *, author: str) -> list[dict | None]:
    """Bulk publish in input order; None for each item that failed (bad id, already tracked)."""
    results = _publish_items(items, Actor(author, UserClass.ADMIN))
    return [None if isinstance(r, TrackerError) else r for r in results]


def publish_nodes(items: list, actor: Actor) -> list[dict | TrackerError]:
    """`/api/publish/` with the reason of each failure."""
    return _publish_items(items, actor)


def _publish_items(items: list, actor: Actor) -> list[dict | TrackerError]:
    now = now_ms()
    results: list[dict | TrackerError | None] = [None] * len(items)
    candidates: list[tuple[int, str, dict]] = []
    for index, item in enumerate(items):
        try:
            node_id, data = _split_wire(item)
            if node_id is None:
                raise InvalidId("publish needs an _id (the file's path)")
            validate_file_id(node_id)
            _judge_write(actor, permissions.Op.PUBLISH, node_id, None, data)
            origin = data.get("origin")
            if not isinstance(origin, str) or not origin:
                raise InvalidInput("publish needs an origin (the site the file comes from)", node_id)
            comment = data.get("comment", "")
            if not isinstance(comment, str):
                raise InvalidInput("comment must be a string", node_id)
            data = {k: v for k, v in data.items() if v is not None}
            data.setdefault("author", actor.name)
            data.setdefault("time", now)
            candidates.append((index, node_id, data))
        except TrackerError as exc:
            results[index] = exc
    if connection.vendor == "postgresql":
        return _pg_publish_candidates(candidates, results)
    with transaction.atomic(), changes.context(op="publish"):  # the change log labels these writes "publish"
        existing = set(Node.objects.filter(node_id__in=[c[1] for c in candidates]).values_list("node_id", flat=True))
        files: list[tuple[str, dict]] = []
        children: list[tuple[str, dict]] = []
        for index, node_id, data in candidates:
            if node_id in existing:
                results[index] = AlreadyExists(f"{node_id} is already tracked", node_id)
                continue
            existing.add(node_id)
            files.append((node_id, data))
            children.append((new_child_id(), _publish_child(node_id, data)))
            results[index] = {"_id": node_id, **data}
        if connection.vendor == "sqlite":
            _sqlite_publish(files, children, sites())
        else:
            file_nodes = [_make_node(i, d) for i, d in files]
            _insert_nodes(file_nodes + [_make_node(i, d) for i, d in children])
            _refresh_states(file_nodes, new=True)
    return results  # type: ignore[return-value]


_NODE_INSERT = (
    "INSERT INTO tracker_node (node_id, kind, parent, origin, time, sync_priority, deleted, authors, data)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
_STATE_INSERT = (
    "INSERT INTO tracker_sitestate (node_id, site, path, priority, time, active, wanted, synced, syncing, error,"
    " last_attempt, failures) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (node_id, site) DO NOTHING"
)


def _sqlite_publish(files: list[tuple[str, dict]], children: list[tuple[str, dict]], site_names: list[str]) -> None:
    """SQLite's publish: plain rows through `executemany` (no model instances), the ids told by their range, and
    the state rows from the same rules as everywhere (`_state_values`). SQLite serialises writers (IMMEDIATE
    transactions), so the existence check made before cannot be overtaken."""
    columns = {node_id: _columns(node_id, data) for node_id, data in files}
    rows = []
    for node_id, data in files:
        c = columns[node_id]
        rows.append((node_id, c["kind"], c["parent"], c["origin"], c["time"], c["sync_priority"], c["deleted"],
                     c["authors"], json.dumps(data)))  # fmt: skip
    for node_id, data in children:
        c = _columns(node_id, data)
        rows.append((node_id, c["kind"], c["parent"], c["origin"], c["time"], c["sync_priority"], c["deleted"],
                     c["authors"], json.dumps(data)))  # fmt: skip
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # One change-log row per statement instead of SQLite's row trigger per node and per state row
            # (syncsite.changes.bulk_insert), which also tells the new ids without reading the rows back.
            ids = changes.bulk_insert(
                connection, Node, lambda: cursor.executemany(_NODE_INSERT, rows), len(rows),
                natural_key=["node_id"], scope="authors",
            )  # fmt: skip
            node_ids = [row[0] for row in rows]
            pks = dict(zip(node_ids, ids if ids is not None else _read_pks(cursor, node_ids), strict=True))
            states = [
                tuple(_state_values(pks[node_id], node_id, data, columns[node_id], site).values())
                for node_id, data in files
                if columns[node_id]["kind"] in FILE_KINDS
                for site in site_names
                if site != columns[node_id]["origin"]
            ]
            changes.bulk_insert(
                connection, SiteState, lambda: cursor.executemany(_STATE_INSERT, states), len(states),
                natural_key=["path", "site"],
            )  # fmt: skip
    except IntegrityError as exc:
        raise AlreadyExists("a node with one of these ids was just created by someone else") from exc


def _read_pks(cursor, node_ids: list[str]) -> list[int]:
    """The ids of these nodes, in this order."""
    found: dict[str, int] = {}
    for start in range(0, len(node_ids), 500):
        page = node_ids[start : start + 500]
        marks = ", ".join(["%s"] * len(page))
        cursor.execute(f"SELECT node_id, id FROM tracker_node WHERE node_id IN ({marks})", page)  # noqa: S608
        found.update(cursor.fetchall())
    return [found[node_id] for node_id in node_ids]


def _publish_child(node_id: str, data: dict) -> dict:
    """The child node recording a publication."""
    return {
        "#parent": node_id,
        "comment": data.get("comment", ""),
        "origin": data["origin"],
        "author": data["author"],
        "time": data["time"],
    }


def _pg_publish_candidates(
    candidates: list[tuple[int, str, dict]], results: list[dict | TrackerError | None]
) -> list[dict | TrackerError]:
    """The PostgreSQL publish: the checked items go to the database in one COPY and one set-based merge, which
    tells which were already tracked (no separate existence query)."""
    files: list[tuple[str, str, dict]] = []
    first_of: dict[str, int] = {}
    for index, node_id, data in candidates:
        if node_id in first_of:  # the same path twice in one call: the first one is published
            results[index] = AlreadyExists(f"{node_id} is already tracked", node_id)
            continue
        first_of[node_id] = index
        files.append((node_id, new_child_id(), data))
    # one statement writes everything: no savepoint needed; the change log labels its writes "publish"
    with transaction.atomic(savepoint=False), changes.context(op="publish"):
        inserted = _pg_publish(files) if files else set()
    for node_id, _, data in files:
        index = first_of[node_id]
        if node_id in inserted:
            results[index] = {"_id": node_id, **data}
        else:
            results[index] = AlreadyExists(f"{node_id} is already tracked", node_id)
    return results  # type: ignore[return-value]


def comment_nodes(keys: dict, actor: Actor) -> list[dict | TrackerError]:
    """`/api/comment/`: one child node per parent in `#parent` (a string or a list)."""
    if not isinstance(keys, dict):
        raise InvalidInput("comment expects a JSON object")
    parents = keys.get("#parent")
    parent_list = parents if isinstance(parents, list) else [parents]
    if not parent_list or not all(isinstance(p, str) and p for p in parent_list):
        raise InvalidInput("#parent must be an id or a list of ids")
    if len(parent_list) > conf.max_body_items():
        raise InvalidInput(f"at most {conf.max_body_items()} parents per comment")
    if not isinstance(keys.get("comment", ""), str):
        raise InvalidInput("comment must be a string")
    kinds = dict(Node.objects.filter(node_id__in=parent_list).values_list("node_id", "kind"))
    permissions.check_comment(
        actor,
        [k for k, v in keys.items() if k != "_id" and v is not None],
        [(p, permissions.kind_of(p, kinds[p])) for p in parent_list if p in kinds],
    )
    existing = set(kinds)
    now = now_ms()
    results: list[dict | TrackerError] = []
    children: list[Node] = []
    for parent in parent_list:
        if parent not in existing:
            results.append(NotFound(f"{parent} not found", parent))
            continue
        data = {k: v for k, v in keys.items() if k != "_id" and v is not None}
        data.update({"#parent": parent, "author": actor.name, "time": now})
        node = _make_node(new_child_id(), data)
        children.append(node)
        results.append(node)  # type: ignore[arg-type]
    with transaction.atomic():
        _insert_nodes(children)
    return [r.as_wire() if isinstance(r, Node) else r for r in results]


def version_node(node_id: str, keys: dict, actor: Actor) -> dict:
    """`/api/version/<id>`: keep the current state as a child node, apply `keys`, increment `version`."""
    if not isinstance(keys, dict):
        raise InvalidInput("version expects a JSON object")
    validate_node_id(node_id)
    keys = {k: v for k, v in keys.items() if k != "_id"}
    with transaction.atomic():
        node = Node.objects.select_for_update().filter(node_id=node_id).first()
        if node is None:
            raise NotFound(f"{node_id} not found", node_id)
        after, kind_before, kind_after = _judge_write(actor, permissions.Op.VERSION, node_id, node, keys)
        before_sites = set(sites()) if NodeKind.VOLUME in (kind_before, kind_after) else None
        too_large = _size_error(node_id, node.data, keys)
        if too_large is not None:
            raise too_large
        previous = _int_or_none(node.data.get("version")) or 1
        snapshot = {k: v for k, v in node.data.items() if k != "#parent"}
        snapshot.update({"#parent": node_id, "version": previous})
        Node.objects.bulk_create([_make_node(new_child_id(), snapshot)])
        node.data = after
        node.data.update({"version": previous + 1, "author": actor.name, "time": now_ms()})
        _set_columns(node)
        node.save()
        if before_sites is not None:
            _sites_changed(before_sites, set(sites()))
        _refresh_states([node])
    return node.as_wire()


def _select_for_update(node_ids: list[str]) -> list[Node]:
    """Row-locked nodes for a lock change; NotFound naming the missing ids when any is absent."""
    nodes = list(Node.objects.select_for_update().filter(node_id__in=node_ids))
    missing = set(node_ids) - {n.node_id for n in nodes}
    if missing:
        raise NotFound(f"not found: {', '.join(sorted(missing))}", sorted(missing)[0])
    return nodes


def _lock_holders(node_ids: list[str], actor: Actor, op: permissions.Op) -> Iterator[tuple[Node, str | None]]:
    """Each row-locked node with its lock holder, after the lock rules for `op` allowed the actor on it."""
    for node in _select_for_update(node_ids):
        kind = permissions.kind_of(node.node_id, node.kind)
        permissions.check_lock(actor, op, node.node_id, kind, node.data)
        yield node, node.data.get("lock")


def lock_nodes(node_ids: list[str], actor: Actor) -> bool:
    """Set `lock` to the actor on every node, or on none: Conflict when one is locked by someone else."""
    with transaction.atomic():
        pks = []
        for node, holder in _lock_holders(node_ids, actor, permissions.Op.LOCK):
            if holder is not None and holder != actor.name:
                raise Conflict(f"{node.node_id} is locked by {holder}", node.node_id)
            pks.append(node.pk)
        with changes.context(op="lock"):  # the change log (and the change feed) tells locks apart
            _json_patch(pks, {"lock": actor.name})
    return True


def unlock_nodes(node_ids: list[str], actor: Actor) -> bool:
    """Remove the actor's locks; False (and nothing changed) when one is not locked by the actor."""
    with transaction.atomic():
        pks = []
        for node, holder in _lock_holders(node_ids, actor, permissions.Op.UNLOCK):
            if holder is None or not permissions.may_remove_lock(actor, holder):
                return False
            pks.append(node.pk)
        with changes.context(op="unlock"):
            _json_patch(pks, {}, ["lock"])
    return True


def force_unlock(node_ids: list[str], actor: Actor | None = None) -> int:
    """Admin action: remove locks whoever holds them (an admin's right in the permission matrix)."""
    permissions.check_lock_override(actor)
    with transaction.atomic():
        pks = list(Node.objects.filter(node_id__in=node_ids, data__has_key="lock").values_list("pk", flat=True))
        with changes.context(op="unlock"):
            _json_patch(pks, {}, ["lock"])
    return len(pks)


def force_lock(node_ids: list[str], holder: str, actor: Actor | None = None) -> int:
    """Admin action: lock nodes in someone's name, replacing any lock (an admin's right in the permission matrix)."""
    permissions.check_lock_override(actor)
    with transaction.atomic():
        pks = list(Node.objects.filter(node_id__in=node_ids).values_list("pk", flat=True))
        with changes.context(op="lock"):
            _json_patch(pks, {"lock": holder})
    return len(pks)


# --------------------------------------------------------------------------------------------- graph

GRAPH_MAX_NODES = 10000


def graph(start: list[str], max_depth: int, actor) -> list[dict]:
    """The damas graph walk: nodes reachable from `start` through `#parent` links and edge nodes (`src_id`/`tgt_id`).

    The walk reads only ids and links; the nodes themselves are loaded once at the end, after their total
    size was checked against TRACKER_MAX_RESPONSE_BYTES."""
    visible = visible_nodes(actor)
    found: dict[str, None] = {}  # ids in the order they were reached
    frontier = set(start)
    level = 0
    while frontier and len(found) < GRAPH_MAX_NODES:
        rows = visible.filter(node_id__in=frontier).values_list("node_id", "parent")
        fresh = [(node_id, parent) for node_id, parent in rows if node_id not in found]
        if level == 0 and not fresh:
            return []
        found.update((node_id, None) for node_id, _ in fresh)
        if max_depth and level >= max_depth:
            break
        keys = [node_id for node_id, _ in fresh]
        following: set[str] = {parent for _, parent in fresh if parent}
        edges = visible.filter(data__has_key="src_id", data__src_id__in=keys) | visible.filter(
            data__has_key="tgt_id", data__tgt_id__in=keys
        )
        for node_id, src, tgt in edges.values_list("node_id", "data__src_id", "data__tgt_id")[:GRAPH_MAX_NODES]:
            found.setdefault(node_id, None)
            following.update(end for end in (src, tgt) if isinstance(end, str))
        frontier = following - set(found)
        level += 1
    ids = list(found)
    nodes: dict[str, Node] = {}
    limits.check_response_size(Node.objects.filter(node_id__in=ids), len(ids))
    for start_at in range(0, len(ids), 1000):
        nodes.update((n.node_id, n) for n in Node.objects.filter(node_id__in=ids[start_at : start_at + 1000]))
    return [readable(nodes[i], actor) for i in ids if i in nodes]
