"""Ids, the column copies of a node's hot keys, site-state rows and JSON patches: the rules every write shares."""

from __future__ import annotations

import json
import secrets
import time as _time
from collections.abc import Iterable

from django.db import connection

from tracker import permissions
from tracker.models import Node, NodeKind, SiteState
from tracker.services.errors import InvalidId, InvalidInput

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


_STATE_UPDATE_FIELDS = ["path", "priority", "time", "active", "wanted", "synced", "syncing", "error", "last_attempt"]


def _apply(data: dict, changes: dict) -> dict:
    """`data` with the changes merged in (None removes a key), as a new dict."""
    merged = dict(data)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


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
    """24 hex characters laid out as a MongoDB ObjectId, which damas-core clients are used to: the creation time
    in seconds first, so ids made later sort later and a new node lands at the end of the unique index instead
    of on a random page of it (a publish of 1,000 files writes 1,000 children). Then 8 random bytes, not the
    ObjectId's process value and counter: those make the next ids guessable, and a user who may create nodes
    could take them first."""
    return f"{int(_time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(8)}"


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


def _state_values(pk: int | None, node_id: str, data: dict, columns: dict, site: str) -> dict:
    """The state row of a node at a site, as column values (`columns`: the node's `_columns`)."""
    synced = _int_or_none(data.get(f"synced_{site}"))
    node_time = columns["time"] or 0
    return {
        "node_id": pk,
        "site": site,
        "path": node_id,
        "priority": columns["sync_priority"],
        "time": node_time,
        "active": not columns["deleted"] and (synced is None or synced < node_time),
        "wanted": _wanted_flag(data, site),
        "synced": synced,
        "syncing": _int_or_none(data.get(f"syncing_{site}")),
        "error": _int_or_none(data.get(f"syncError_{site}"), INT32_MAX),
        "last_attempt": _int_or_none(data.get(f"syncLastAttempt_{site}")),
        "failures": 1 if data.get(f"syncError_{site}") is not None else 0,
    }


def _state_for(node: Node, site: str) -> SiteState:
    columns = {"time": node.time, "sync_priority": node.sync_priority, "deleted": node.deleted}
    return SiteState(**_state_values(node.pk, node.node_id, node.data, columns, site))


def _volume_name(node_id: str, data: dict) -> str:
    name = data.get("name")
    return name if isinstance(name, str) and name else node_id


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
