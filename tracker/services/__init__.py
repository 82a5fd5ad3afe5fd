"""The only door into tracker: other apps and the views call these functions, never the models directly.

Times are epoch milliseconds. Every public function runs in one transaction. Node dicts are the wire JSON
(`{"_id": ..., **keys}`). A site is a volume's `name` (falling back to the volume's `_id`).

The JSON keys are the truth clients see; the columns of `Node` and the rows of `SiteState` are copies that
this module keeps in step so that the hot queries (work queue, prefix search, children) use indexes.
"""

from __future__ import annotations

import json
import secrets
import time as _time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q

from syncsite import tokens
from tracker import conf, permissions, rsyncpolicy
from tracker.models import CLASS_RANK, Node, NodeKind, SiteState, TrackerProfile, UserClass
from tracker.numbers import NodeJSONDecoder

GLOBAL_PARAMETERS_ID = permissions.GLOBAL_PARAMETERS_ID
GLOBAL_DEFAULTS = {
    "enableScans": True,
    "excludePatternRules": "",
    "excludedFiles": "",
    "ignoreExistingFiles": False,
    "includePatternRules": "",
    "rsaPublicKey": "",
    "sleepBetweenScans": 60,
    "syncEverywhere": True,
}
VOLUME_MARKER_KEYS = frozenset(
    {"url", "enableEmission", "enableReception", "syncAmountEmission", "syncAmountReception", "rsync_args"}
)
MAX_ID_LENGTH = 4096
FILE_KINDS = (NodeKind.FILE, NodeKind.FOLDER)
_STATE_UPDATE_FIELDS = ["path", "priority", "time", "active", "wanted", "synced", "syncing", "error", "last_attempt"]


# --------------------------------------------------------------------------------------------- errors


class TrackerError(Exception):
    """Base of every error this module raises; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str = "", node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id

    @property
    def detail(self) -> str:
        return str(self)


class InvalidId(TrackerError, ValueError):
    status = 400


class InvalidInput(TrackerError, ValueError):
    status = 400


class AlreadyExists(TrackerError):
    status = 409


class Conflict(TrackerError):
    status = 409


class NotFound(TrackerError):
    status = 404


class Forbidden(TrackerError):
    status = 403


# --------------------------------------------------------------------------------------------- actors


@dataclass(frozen=True)
class Actor:
    """Who is calling: a user name, a class, and whether it is a site agent (which may write sync keys).

    `None` where an actor is optional means the system itself. The rules are `tracker.permissions`'.
    """

    name: str
    user_class: str = UserClass.USER
    agent: bool = False

    @property
    def is_admin(self) -> bool:
        return self.user_class == UserClass.ADMIN

    def at_least(self, user_class: str) -> bool:
        return CLASS_RANK.get(self.user_class, -1) >= CLASS_RANK[user_class]


def user_class_of(user) -> str:
    """Superusers are admin; others take their profile's class, `user` when they have none."""
    if user is None or not user.is_authenticated:
        return UserClass.GUEST
    if user.is_superuser:
        return UserClass.ADMIN
    try:
        return user.tracker_profile.user_class
    except TrackerProfile.DoesNotExist:
        return UserClass.USER


def actor_for(user) -> Actor:
    return Actor(name=user.get_username(), user_class=user_class_of(user))


def _matrix_kind(node_id: str, data: dict, previous: str | None = None) -> str:
    """The kind the permission matrix judges: what `data` makes of the node (after the write)."""
    return permissions.kind_of(node_id, _kind_of(node_id, data, previous))


def _check_volume_values(kind_before: str | None, kind_after: str, data: dict, changes: dict) -> None:
    """A volume's url, rsync_args and rsync_env must be values the agent would run, whoever writes them.

    Only the values written now are judged (status updates of a volume holding an old value still work),
    and all of them when the node becomes a volume by this write.
    """
    if kind_after != NodeKind.VOLUME:
        return
    keys = data if kind_before != NodeKind.VOLUME else {k: data.get(k) for k in changes}
    try:
        rsyncpolicy.check_volume_keys(keys)
    except rsyncpolicy.PolicyError as exc:
        raise InvalidInput(str(exc)) from exc


def _judge_write(
    actor: Actor | None, op: permissions.Op, node_id: str, node: Node | None, changes: dict, *, trusted: bool = False
) -> tuple[dict, str | None, str]:
    """Apply the permission matrix and the volume rules to one write; (keys after, kind before, kind after).

    `node` is the stored node (None: the write creates it). `trusted` code keeps only authorMode and the rules
    no caller escapes (user nodes, a volume's rsync values).
    """
    if node is None:
        after, kind_before = {k: v for k, v in changes.items() if v is not None}, None
    else:
        after, kind_before = _apply(node.data, changes), permissions.kind_of(node_id, node.kind)
    kind_after = _matrix_kind(node_id, after, node.kind if node is not None else None)
    current = node.data if node is not None else None
    if trusted:
        permissions.check_kind(None, op, node_id, (kind_before, kind_after))
        permissions.check_author(actor, node_id, current)
    else:
        permissions.check_write(actor, permissions.Write(op, node_id, kind_before, kind_after, changes, current))
    _check_volume_values(kind_before, kind_after, after, changes)
    return after, kind_before, kind_after


def check_write(node_id: str, changes: dict, actor: Actor | None, op: permissions.Op | None = None) -> None:
    """What writing `changes` to `node_id` would refuse (Forbidden, InvalidInput), without writing: forms use it
    to show the reason next to the field. The write itself checks again."""
    node = Node.objects.filter(node_id=node_id).first()
    if op is None:
        op = permissions.Op.CREATE if node is None else permissions.Op.UPDATE
    _judge_write(actor, op, node_id, node, changes)


def _apply(data: dict, changes: dict) -> dict:
    """`data` with the changes merged in (None removes a key), as a new dict."""
    merged = dict(data)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


# --------------------------------------------------------------------------------------------- ids, columns


def now_ms() -> int:
    return int(_time.time() * 1000)


def validate_file_id(node_id: str) -> str:
    """A file `_id` is a project-relative path; anything that could escape the project is refused."""
    if not isinstance(node_id, str):
        raise InvalidId("a file _id must be a string")
    if not node_id.startswith("/"):
        raise InvalidId(f"a file _id must start with '/': {node_id[:200]!r}", node_id)
    if "\x00" in node_id:
        raise InvalidId("a file _id must not contain NUL characters", node_id)
    if len(node_id) > MAX_ID_LENGTH:
        raise InvalidId(f"a file _id must be at most {MAX_ID_LENGTH} characters", node_id[:200])
    if "//" in node_id:
        raise InvalidId(f"a file _id must not contain '//': {node_id!r}", node_id)
    if ".." in node_id.split("/"):
        raise InvalidId(f"a file _id must not contain '..' segments: {node_id!r}", node_id)
    return node_id


def validate_node_id(node_id: object) -> str:
    """Any `_id`: a non-empty string; paths follow the file rules."""
    if not isinstance(node_id, str) or not node_id:
        raise InvalidId("_id must be a non-empty string")
    if node_id.startswith("/"):
        return validate_file_id(node_id)
    if "\x00" in node_id:
        raise InvalidId("_id must not contain NUL characters", node_id)
    if len(node_id) > MAX_ID_LENGTH:
        raise InvalidId(f"_id must be at most {MAX_ID_LENGTH} characters", node_id[:200])
    return node_id


def new_child_id() -> str:
    """24 lowercase hex characters, like the ObjectIds damas-core clients are used to."""
    return secrets.token_hex(12)


INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1


def _int_or_none(value: object, bound: int = INT64_MAX) -> int | None:
    """An integer column copy of a JSON number; values the column cannot hold are clamped (the JSON keeps
    the original), non-numbers are None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return max(-bound - 1, min(bound, int(value)))


def _kind_of(node_id: str, data: dict, previous: str | None = None) -> str:
    if "#parent" in data:
        return NodeKind.CHILD
    if node_id.startswith("@"):
        return NodeKind.USER
    if node_id.startswith("/"):
        return NodeKind.FOLDER if node_id.endswith("/") else NodeKind.FILE
    # A volume is named and has a volume key; once a volume, removing such a key does not demote it.
    if "name" in data and (
        previous == NodeKind.VOLUME or data.get("type") == "volume" or VOLUME_MARKER_KEYS.intersection(data)
    ):
        return NodeKind.VOLUME
    return NodeKind.OTHER


def _authors_of(data: dict) -> str:
    author = data.get("author")
    names = [a for a in author if isinstance(a, str)] if isinstance(author, list) else [author]
    names = [n for n in names if isinstance(n, str) and n]
    return "|" + "|".join(names) + "|" if names else ""


def _columns(node_id: str, data: dict, previous_kind: str | None = None) -> dict:
    """The column copies of a node's hot keys."""
    parent = data.get("#parent")
    origin = data.get("origin")
    return {
        "kind": _kind_of(node_id, data, previous_kind),
        "parent": parent if isinstance(parent, str) else None,
        "origin": origin if isinstance(origin, str) else None,
        "time": _int_or_none(data.get("time")),
        "sync_priority": _int_or_none(data.get("sync_priority"), INT32_MAX) or 0,
        "deleted": data.get("deleted") is True,
        "authors": _authors_of(data),
    }


def _set_columns(node: Node) -> Node:
    """Copy the hot keys of `data` into their columns."""
    for name, value in _columns(node.node_id, node.data, node.kind if node.pk else None).items():
        setattr(node, name, value)
    return node


def _make_node(node_id: str, data: dict) -> Node:
    return _set_columns(Node(node_id=node_id, data=data))


def _split_wire(item: object) -> tuple[str | None, dict]:
    if not isinstance(item, dict):
        raise InvalidInput("each item must be a JSON object")
    data = dict(item)
    node_id = data.pop("_id", None)
    return node_id, data


# --------------------------------------------------------------------------------------------- site state


def _wanted_flag(data: dict, site: str) -> bool | None:
    """Destination filter from the node's own keys: an explicit `sync_<site>` wins, then `syncEverywhere`;
    None leaves it to the global parameter."""
    explicit = data.get(f"sync_{site}")
    if isinstance(explicit, bool):
        return explicit
    everywhere = data.get("syncEverywhere")
    if isinstance(everywhere, bool):
        return everywhere
    return None


def _state_for(node: Node, site: str) -> SiteState:
    data = node.data
    synced = _int_or_none(data.get(f"synced_{site}"))
    node_time = node.time or 0
    return SiteState(
        node_id=node.pk,
        site=site,
        path=node.node_id,
        priority=node.sync_priority,
        time=node_time,
        active=not node.deleted and (synced is None or synced < node_time),
        wanted=_wanted_flag(data, site),
        synced=synced,
        syncing=_int_or_none(data.get(f"syncing_{site}")),
        error=_int_or_none(data.get(f"syncError_{site}"), INT32_MAX),
        last_attempt=_int_or_none(data.get(f"syncLastAttempt_{site}")),
        failures=1 if data.get(f"syncError_{site}") is not None else 0,
    )


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


def _pg_key_number(prefix: str, bound: int = INT64_MAX) -> str:
    """SQL for a per-site key as a clamped integer (the same rule as _int_or_none)."""
    key = f"('{prefix}_' || s.site)"
    value = f"LEAST(GREATEST((n.data ->> {key})::numeric, {-bound - 1}), {bound})"
    return f"(CASE WHEN jsonb_typeof(n.data -> {key}) = 'number' THEN {value}::bigint END)"


def _pg_insert_states(where: str, params: list, site_names: list[str], *, on_conflict: bool = True) -> None:
    """Build state rows in the database from the nodes' JSON (the same rules as _state_for), no round trips."""
    synced, syncing = _pg_key_number("synced"), _pg_key_number("syncing")
    error, attempt = _pg_key_number("syncError", INT32_MAX), _pg_key_number("syncLastAttempt")
    wanted = (
        "(CASE WHEN jsonb_typeof(n.data -> ('sync_' || s.site)) = 'boolean'"
        " THEN (n.data ->> ('sync_' || s.site))::boolean"
        " WHEN jsonb_typeof(n.data -> 'syncEverywhere') = 'boolean' THEN (n.data ->> 'syncEverywhere')::boolean END)"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO tracker_sitestate
                (node_id, site, path, priority, time, active, wanted, synced, syncing, error, last_attempt, failures)
            SELECT n.id, s.site, n.node_id, n.sync_priority, COALESCE(n.time, 0),
                NOT n.deleted AND COALESCE({synced} < COALESCE(n.time, 0), TRUE),
                {wanted}, {synced}, {syncing}, {error}::integer, {attempt},
                CASE WHEN n.data ? ('syncError_' || s.site) THEN 1 ELSE 0 END
            FROM tracker_node n CROSS JOIN unnest(%s::text[]) AS s(site)
            WHERE n.kind IN ('file', 'folder') AND n.origin IS DISTINCT FROM s.site AND {where}
            {"ON CONFLICT (node_id, site) DO NOTHING" if on_conflict else ""}
            """,  # noqa: S608 - fixed SQL; values are parameters
            [list(site_names), *params],
        )


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


def _volume_name(node_id: str, data: dict) -> str:
    name = data.get("name")
    return name if isinstance(name, str) and name else node_id


def _sites_changed(before: set[str], after: set[str]) -> None:
    for gone in before - after:
        SiteState.objects.filter(site=gone).delete()
    for added in after - before:
        _backfill_site(added)


# --------------------------------------------------------------------------------------------- JSON patches


def _json_patch(pks: list[int], set_keys: dict, remove_keys: Iterable[str] = ()) -> None:
    """Set and remove top-level keys on many nodes in one statement, without reading them into Python."""
    remove_keys = [k for k in remove_keys if k not in set_keys]
    if not pks or (not set_keys and not remove_keys):
        return
    table = Node._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} SET data = (data - %s::text[]) || %s::jsonb WHERE id = ANY(%s)",  # noqa: S608
                [remove_keys, json.dumps(set_keys), pks],
            )
            return
        expr = "data"
        params: list = []
        if remove_keys:
            expr = f"json_remove({expr}, {', '.join('%s' for _ in remove_keys)})"
            params += [_sqlite_path(k) for k in remove_keys]
        if set_keys:
            pairs = ", ".join("%s, json(%s)" for _ in set_keys)
            expr = f"json_set({expr}, {pairs})"
            for k, v in set_keys.items():
                params += [_sqlite_path(k), json.dumps(v)]
        for start in range(0, len(pks), 500):
            chunk = pks[start : start + 500]
            cursor.execute(
                f"UPDATE {table} SET data = {expr} WHERE id IN ({', '.join('%s' for _ in chunk)})",  # noqa: S608
                [*params, *chunk],
            )


def _sqlite_path(key: str) -> str:
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


# --------------------------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------------------------- generic writes


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


def _pg_insert_nodes(nodes: list[Node]) -> None:
    pks = _pg_insert_rows(
        [{"node_id": n.node_id, **_columns(n.node_id, n.data, n.kind), "data": n.data} for n in nodes]
    )
    for n in nodes:
        n.pk = pks[n.node_id]
        n._state.adding = False
        n._state.db = "default"


def _pg_insert_rows(rows: list[dict]) -> dict[str, int]:
    """Insert node rows (column dicts) in one statement; {node_id: pk}."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO tracker_node (node_id, kind, parent, origin, time, sync_priority, deleted, authors, data)
            SELECT node_id, kind, parent, origin, time, sync_priority, deleted, authors, data
            FROM json_to_recordset(%s::json) AS x(node_id text, kind text, parent text, origin text, time bigint,
                                                  sync_priority integer, deleted boolean, authors text, data jsonb)
            RETURNING id, node_id
            """,
            [json.dumps(rows, ensure_ascii=False)],
        )
        return {node_id: pk for pk, node_id in cursor.fetchall()}


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
    from tracker import limits  # limits builds on this module's errors

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


# --------------------------------------------------------------------------------------------- publish


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
    with transaction.atomic():
        existing = set(Node.objects.filter(node_id__in=[c[1] for c in candidates]).values_list("node_id", flat=True))
        files: list[tuple[str, dict]] = []
        children: list[tuple[str, dict]] = []
        for index, node_id, data in candidates:
            if node_id in existing:
                results[index] = AlreadyExists(f"{node_id} is already tracked", node_id)
                continue
            existing.add(node_id)
            files.append((node_id, data))
            child = {
                "#parent": node_id,
                "comment": data.get("comment", ""),
                "origin": data["origin"],
                "author": data["author"],
                "time": data["time"],
            }
            children.append((new_child_id(), child))
            results[index] = {"_id": node_id, **data}
        if connection.vendor == "postgresql":
            # The hot path: plain dicts, one INSERT for files and children, state rows built in SQL.
            rows = [{"node_id": i, **_columns(i, d), "data": d} for i, d in files + children]
            try:
                with transaction.atomic():
                    pks = _pg_insert_rows(rows)
            except IntegrityError as exc:
                raise AlreadyExists("a node with one of these ids was just created by someone else") from exc
            site_names = sites()
            if files and site_names:
                _pg_insert_states("n.id = ANY(%s)", [[pks[i] for i, _ in files]], site_names)
        else:
            file_nodes = [_make_node(i, d) for i, d in files]
            _insert_nodes(file_nodes + [_make_node(i, d) for i, d in children])
            _refresh_states(file_nodes, new=True)
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


def lock_nodes(node_ids: list[str], actor: Actor) -> bool:
    """Set `lock` to the actor on every node, or on none: Conflict when one is locked by someone else."""
    with transaction.atomic():
        nodes = _select_for_update(node_ids)
        for node in nodes:
            permissions.check_lock(
                actor, permissions.Op.LOCK, node.node_id, permissions.kind_of(node.node_id, node.kind), node.data
            )
            holder = node.data.get("lock")
            if holder is not None and holder != actor.name:
                raise Conflict(f"{node.node_id} is locked by {holder}", node.node_id)
        _json_patch([n.pk for n in nodes], {"lock": actor.name})
    return True


def unlock_nodes(node_ids: list[str], actor: Actor) -> bool:
    """Remove the actor's locks; False (and nothing changed) when one is not locked by the actor."""
    with transaction.atomic():
        nodes = _select_for_update(node_ids)
        for node in nodes:
            permissions.check_lock(
                actor, permissions.Op.UNLOCK, node.node_id, permissions.kind_of(node.node_id, node.kind), node.data
            )
            holder = node.data.get("lock")
            if holder is None or not permissions.may_remove_lock(actor, holder):
                return False
        _json_patch([n.pk for n in nodes], {}, ["lock"])
    return True


def force_unlock(node_ids: list[str], actor: Actor | None = None) -> int:
    """Admin action: remove locks whoever holds them (an admin's right in the permission matrix)."""
    permissions.check_lock_override(actor)
    with transaction.atomic():
        pks = list(Node.objects.filter(node_id__in=node_ids, data__has_key="lock").values_list("pk", flat=True))
        _json_patch(pks, {}, ["lock"])
    return len(pks)


def force_lock(node_ids: list[str], holder: str, actor: Actor | None = None) -> int:
    """Admin action: lock nodes in someone's name, replacing any lock (an admin's right in the permission matrix)."""
    permissions.check_lock_override(actor)
    with transaction.atomic():
        pks = list(Node.objects.filter(node_id__in=node_ids).values_list("pk", flat=True))
        _json_patch(pks, {"lock": holder})
    return len(pks)


# --------------------------------------------------------------------------------------------- sync state


def _file_rows(paths: list[str]) -> list[tuple[int, int, bool]]:
    return list(Node.objects.filter(node_id__in=set(paths)).values_list("pk", "time", "deleted"))


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
        if outdated:
            SiteState.objects.filter(node_id__in=outdated, site=site).update(active=True, **cleared)
        if current:
            SiteState.objects.filter(node_id__in=current, site=site).update(active=False, **cleared)
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
    if global_parameters().get("syncEverywhere", True) is not False:
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


_PG_RELEASE_SQL = """
WITH released AS (
    UPDATE tracker_sitestate SET syncing = NULL
    WHERE site = %(site)s AND syncing IS NOT NULL AND syncing < %(stale)s
    RETURNING node_id
), unstamped AS (
    UPDATE tracker_node SET data = data - %(key)s WHERE id IN (SELECT node_id FROM released) RETURNING id
)
SELECT set_config('synchronous_commit', 'off', true), (SELECT count(*) FROM unstamped)
"""

_PG_CLAIM_SQL = """
WITH claimed AS (
    UPDATE tracker_sitestate SET syncing = %(now)s
    WHERE id IN (
        SELECT id FROM tracker_sitestate
        WHERE site = %(site)s AND active AND syncing IS NULL
          AND (wanted OR (wanted IS NULL AND COALESCE(
                (SELECT (data ->> 'syncEverywhere')::boolean FROM tracker_node
                 WHERE node_id = 'rsyncGlobalParameters' AND jsonb_typeof(data -> 'syncEverywhere') = 'boolean'),
                TRUE)))
          AND (error IS NULL OR last_attempt IS NULL
               OR last_attempt + LEAST(%(base)s * power(2, GREATEST(failures, 1) - 1), %(ceiling)s)::bigint
                  <= %(now)s)
          {origin}
        ORDER BY priority DESC, time, path
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING node_id, priority, time, path
), stamped AS (
    UPDATE tracker_node SET data = data || %(stamp)s::jsonb
    WHERE id IN (SELECT node_id FROM claimed)
    RETURNING id, node_id, data
)
SELECT stamped.node_id, stamped.data FROM stamped JOIN claimed ON claimed.node_id = stamped.id
ORDER BY claimed.priority DESC, claimed.time, claimed.path
"""


def _pg_pending(site: str, limit: int, now: int, origin: str | None = None) -> list[dict]:
    """The PostgreSQL work queue in two statements: give back stale claims, then claim and stamp.

    A claim is soft state (a lost one only means the file is offered again), so its commit does not wait
    for the WAL flush: that wait is most of a claim's latency on a busy disk.
    """
    key = f"syncing_{site}"
    params = {
        "now": now,
        "site": site,
        "limit": limit,
        "base": conf.retry_base_seconds() * 1000,
        "ceiling": conf.retry_max_seconds() * 1000,
        "origin": origin,
        "key": key,
        "stale": now - conf.syncing_stale_seconds() * 1000,
        "stamp": json.dumps({key: now}),
    }
    origin_sql = (
        "AND node_id IN (SELECT id FROM tracker_node WHERE origin = %(origin)s AND kind IN ('file', 'folder'))"
        if origin is not None
        else ""
    )
    with connection.cursor() as cursor:
        cursor.execute(_PG_RELEASE_SQL, params)
        cursor.fetchall()
        cursor.execute(_PG_CLAIM_SQL.format(origin=origin_sql), params)
        rows = cursor.fetchall()
    return [
        {"_id": node_id, **(json.loads(data, cls=NodeJSONDecoder) if isinstance(data, str) else data)}
        for node_id, data in rows
    ]


def _batch_size(volume: dict | None, key: str) -> int:
    if volume:
        amount = _int_or_none(volume.get(key))
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
            limit = _batch_size(get_volume(site), "syncAmountReception")
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
            limit = _batch_size(get_volume(site), "syncAmountEmission")
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
        wanted = (global_parameters() if global_everywhere is None else {"syncEverywhere": global_everywhere}).get(
            "syncEverywhere", True
        ) is not False
    if data.get(f"syncing_{site}") is not None:
        return "syncing"
    if data.get(f"syncError_{site}") is not None:
        return "error"
    synced = _int_or_none(data.get(f"synced_{site}"))
    if synced is not None:
        return "synced" if synced >= (_int_or_none(data.get("time")) or 0) else "outdated"
    return "missing" if wanted else "not wanted"


# --------------------------------------------------------------------------------------------- volumes


def sites() -> list[str]:
    """Names of all volumes, sorted."""
    rows = Node.objects.filter(kind=NodeKind.VOLUME).values_list("node_id", "data")
    return sorted({_volume_name(node_id, data) for node_id, data in rows})


def _volume_node(site: str) -> Node | None:
    vols = Node.objects.filter(kind=NodeKind.VOLUME)
    return vols.filter(data__name=site).order_by("pk").first() or vols.filter(node_id=site).first()


def get_volume(site: str) -> dict | None:
    node = _volume_node(site)
    return node.as_wire() if node else None


def volumes() -> list[dict]:
    return [n.as_wire() for n in Node.objects.filter(kind=NodeKind.VOLUME).order_by("node_id")]


def sites_overview() -> list[dict]:
    """One row per site for monitoring: name, _id, url, agentStatus and the pending count."""
    rows = []
    for volume in volumes():
        name = _volume_name(volume["_id"], volume)
        rows.append(
            {
                "name": name,
                "_id": volume["_id"],
                "url": str(volume.get("url", "")),
                "agentStatus": str(volume.get("agentStatus", "")),
                "pending": pending_count(name),
            }
        )
    return rows


def create_volume(name: str, *, url: str = "", node_id: str | None = None, actor: Actor | None = None, **keys) -> dict:
    """A new site. Every tracked file gets a state row there (it is wanted unless filters say otherwise)."""
    if not isinstance(name, str) or not name or "/" in name or any(c.isspace() for c in name):
        raise InvalidInput("a volume name is a non-empty word without '/' or spaces")
    if _volume_node(name) is not None:
        raise AlreadyExists(f"volume {name} already exists", name)
    node_id = node_id or keys.pop("_id", None) or name
    result = create_nodes([{**keys, "_id": node_id, "name": name, "url": url}], actor)[0]
    if isinstance(result, TrackerError):
        raise result
    return result


def update_volume(site: str, changes: dict) -> dict:
    """Agent heartbeat and status keys on a volume node (None removes a key)."""
    node = _volume_node(site)
    if node is None:
        raise NotFound(f"volume {site} not found", site)
    result = update_nodes([{**changes, "_id": node.node_id}])[0]
    if isinstance(result, TrackerError):
        raise result
    return result


def global_parameters() -> dict:
    """The rsyncGlobalParameters node over the defaults."""
    node = Node.objects.filter(node_id=GLOBAL_PARAMETERS_ID).only("data").first()
    return {**GLOBAL_DEFAULTS, **(node.data if node else {})}


def set_global_parameters(changes: dict, actor: Actor | None = None) -> dict:
    """Create or update the rsyncGlobalParameters node (None removes a key)."""
    with transaction.atomic():
        if Node.objects.filter(node_id=GLOBAL_PARAMETERS_ID).exists():
            result = update_nodes([{**changes, "_id": GLOBAL_PARAMETERS_ID}], actor)[0]
        else:
            result = create_nodes([{**changes, "_id": GLOBAL_PARAMETERS_ID}], actor)[0]
    if isinstance(result, TrackerError):
        raise result
    return result


# --------------------------------------------------------------------------------------------- users, tokens


def user_node(user) -> dict:
    """The read-only `@username` node of a Django user (never any password)."""
    return {
        "_id": f"@{user.get_username()}",
        "username": user.get_username(),
        "class": user_class_of(user),
        "email": user.email or "",
        "fullname": user.get_full_name(),
        "active": user.is_active,
    }


def sync_user_node(user) -> None:
    """Keep the `@username` node in step with the Django user (called on user and profile saves)."""
    wire = user_node(user)
    node_id = wire.pop("_id")
    with transaction.atomic():
        node = Node.objects.filter(node_id=node_id).first()
        if node is None:
            wire["time"] = now_ms()
            Node.objects.bulk_create([_make_node(node_id, wire)])
        elif any(node.data.get(k) != v for k, v in wire.items()):
            node.data.update(wire)
            _set_columns(node)
            node.save()


def remove_user_node(username: str) -> None:
    with transaction.atomic():
        Node.objects.filter(node_id=f"@{username}").delete()


def set_user_class(user, user_class: str) -> None:
    if user_class not in UserClass.values:
        raise InvalidInput(f"unknown class {user_class!r}")
    with transaction.atomic():
        TrackerProfile.objects.update_or_create(user=user, defaults={"user_class": user_class})
        sync_user_node(user)


SIGN_IN_LABEL = "signIn"


def sign_in(username: str, password: str, expires_in: int | None = None, request=None) -> dict | None:
    """Check the credentials and issue an API token labelled signIn; None on bad credentials. 0 = never expires.

    Pass the request: sign-in failures are counted per (user, address) and a locked-out pair is refused.
    """
    user = authenticate(request, username=username, password=password)
    if user is None or not user.is_active:
        return None
    if request is not None:
        # A sign-in like the admin's: last_login is recorded and the failure count of (user, address) reset.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
    if expires_in is None:
        expires_in = conf.token_default_expiry_seconds()
    with transaction.atomic():
        _token, raw = tokens.issue_token(user, label=SIGN_IN_LABEL, expires_in=expires_in)
        tokens.purge_expired(user, label=SIGN_IN_LABEL)
    node = user_node(user)
    return {"_id": node["_id"], "user": node, "token": raw}


def user_for_token(token: str):
    """The active user an API token belongs to, or None (unknown, expired, revoked, inactive)."""
    found = tokens.authenticate_token(token, related=("user__tracker_profile",))
    return found.user if found is not None else None


def actor_for_token(token: str) -> Actor | None:
    """Who an API token speaks for (class from the user, agent capability from the token); None when invalid."""
    found = tokens.authenticate_token(token, related=("user__tracker_profile",))
    if found is None:
        return None
    return Actor(found.user.get_username(), user_class_of(found.user), agent=found.agent)


def revoke_tokens(user) -> int:
    """Revoke every live API token of `user` (signIn's and the others); how many were revoked."""
    return tokens.revoke(user)


def user_model():
    return get_user_model()


# --------------------------------------------------------------------------------------------- dashboard


def dashboard_cards() -> list[dict]:
    """Counts for the home page: {"key", "title", "count", "url", "note"} per card."""
    files = Node.objects.filter(kind__in=FILE_KINDS).count()
    site_names = sites()
    return [
        {
            "key": "tracker-files",
            "title": "Tracked files",
            "count": files,
            "url": "/admin/tracker/node/?kind__exact=file",
            "note": f"{len(site_names)} site{'s' if len(site_names) != 1 else ''}",
        }
    ]


def dashboard_sections() -> list[dict]:
    """Extra home page sections: {"template", "data"} each."""
    return []
