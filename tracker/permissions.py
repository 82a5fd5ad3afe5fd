"""The tracker's one permission matrix: which caller may write which key of which kind of node through which
operation, and which keys each caller may read.

Every write path of `tracker.services` asks `check_write` (or `check_lock`) before it changes anything; the
damas routes, the REST API and the admin reach the tracker only through those services, so the rules live
here and nowhere else. A refusal is `services.Forbidden` (403) naming the rule.

Callers (`services.Actor`): the class (`guest` < `user` < `editor` < `admin`), and the `agent` capability of
site agents (sync keys). `actor=None` is the system itself (agents and commands calling services in-process)
and keeps every right. The kind of a node is judged as it is before AND as it will be after the write, so
a write cannot turn a file into a volume or a volume into something the caller may edit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from tracker import conf
from tracker.models import CLASS_RANK, NodeKind, UserClass

if TYPE_CHECKING:
    from tracker.services import Actor


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    UPSERT = "upsert"
    DELETE = "delete"
    VERSION = "version"
    COMMENT = "comment"
    PUBLISH = "publish"
    LOCK = "lock"
    UNLOCK = "unlock"


GLOBAL_PARAMETERS_ID = "rsyncGlobalParameters"
GLOBAL_KIND = "global"  # the rsyncGlobalParameters node (stored as kind `other`)

# The least class each operation needs (TRACKER.md "Users and permissions").
MIN_CLASS: dict[Op, str] = {
    Op.CREATE: UserClass.USER,
    Op.PUBLISH: UserClass.USER,
    Op.COMMENT: UserClass.USER,
    Op.LOCK: UserClass.USER,
    Op.UNLOCK: UserClass.USER,
    Op.VERSION: UserClass.USER,
    Op.UPDATE: UserClass.EDITOR,
    Op.UPSERT: UserClass.EDITOR,
    Op.DELETE: UserClass.EDITOR,
}
# Operations that make a new node from the caller's keys (`origin` may be given there only).
CREATING_OPS = frozenset({Op.CREATE, Op.PUBLISH})

# Node kinds whose every key drives the agents: admins only, in every operation (comments and locks included).
ADMIN_KINDS = frozenset({NodeKind.VOLUME, GLOBAL_KIND})
# Made from Django users by the system (`sync_user_node`); no route writes them, admins included.
SYSTEM_KINDS = frozenset({NodeKind.USER})

# Keys only an admin sets: who wrote a node, when, and the user keys.
ADMIN_KEYS = frozenset({"author", "time", "class", "username"})
# Set at creation only (create, publish, the create half of upsert); afterwards admins only.
CREATION_KEYS = frozenset({"origin"})
# Only the lock and unlock operations set or remove it, whoever calls.
LOCK_KEYS = frozenset({"lock"})
# Per-site state that the site agents write (the `agent` capability) or admins repair.
SYNC_KEY_PREFIXES = (
    "synced_",
    "syncing_",
    "syncError_",
    "syncErrorMessage_",
    "syncLastAttempt_",
    "modified_",
    "deleted_",
)
SYNC_KEYS = frozenset({"file_mtime", "file_size", "deleted"})

# Keys hidden from some readers: key -> (kinds it is hidden on (None: every kind), classes that still read it).
SECRET_KEYS = frozenset({"rsync_env"})  # may hold RSYNC_PASSWORD: admins and agents only
GUEST_HIDDEN: dict[str, frozenset[str]] = {"url": frozenset({NodeKind.VOLUME}), "email": frozenset({NodeKind.USER})}


def is_sync_key(key: str) -> bool:
    return key in SYNC_KEYS or key.startswith(SYNC_KEY_PREFIXES)


def key_class(key: str) -> str:
    """Which rule a key falls under: admin, creation, lock, sync or plain."""
    if key in ADMIN_KEYS:
        return "admin"
    if key in CREATION_KEYS:
        return "creation"
    if key in LOCK_KEYS:
        return "lock"
    if is_sync_key(key):
        return "sync"
    return "plain"


def kind_of(node_id: str | None, stored_kind: str | None) -> str | None:
    """The matrix kind of a node: its stored kind, except the global parameters, which have their own."""
    if node_id == GLOBAL_PARAMETERS_ID:
        return GLOBAL_KIND
    return stored_kind


def _forbidden(message: str, node_id: str | None):
    from tracker.services import Forbidden

    return Forbidden(message, node_id)


def _is_admin(actor: Actor | None) -> bool:
    return actor is None or actor.is_admin


def _is_agent(actor: Actor | None) -> bool:
    return actor is None or actor.is_admin or bool(getattr(actor, "agent", False))


def _rank(actor: Actor) -> int:
    return CLASS_RANK.get(actor.user_class, -1)


# --------------------------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class Write:
    """One node write as the matrix sees it.

    `kind_before` is None for a new node; `keys` are the keys the caller sends (None removes one), `current`
    the node's keys before the write (a key sent with its current value is no change).
    """

    op: Op
    node_id: str | None
    kind_before: str | None
    kind_after: str | None
    keys: Mapping[str, Any]
    current: Mapping[str, Any] | None = None


def check_class(actor: Actor | None, op: Op, node_id: str | None = None) -> None:
    """The operation's least class (the route gate)."""
    if actor is None:
        return
    needed = MIN_CLASS[op]
    if _rank(actor) < CLASS_RANK[needed]:
        raise _forbidden(f"{op} needs the {needed} class; you are {actor.user_class}", node_id)


def check_kind(actor: Actor | None, op: Op, node_id: str | None, kinds: Iterable[str | None]) -> None:
    """Volumes and global parameters: admins only; user nodes: nobody (the system keeps them from Django users)."""
    for kind in kinds:
        if kind in SYSTEM_KINDS:
            raise _forbidden(f"{node_id} is a user node; edit users in the admin", node_id)
        if kind in ADMIN_KINDS and actor is not None and not actor.is_admin:
            what = "the global parameters" if kind == GLOBAL_KIND else f"{kind} nodes"
            raise _forbidden(f"{op} on {what} needs the admin class ({node_id})", node_id)


def changed_keys(keys: Mapping[str, Any], current: Mapping[str, Any] | None) -> list[str]:
    """The keys a write really changes (sending a key back with its current value changes nothing)."""
    if current is None:
        return [k for k, v in keys.items() if v is not None]
    return [k for k, v in keys.items() if current.get(k, None) != v or (v is None and k in current)]


def check_keys(actor: Actor | None, op: Op, node_id: str | None, keys: Iterable[str], *, creating: bool) -> None:
    """Which keys this caller may set in this operation (see the module's matrix)."""
    if actor is None:
        return
    refused: dict[str, list[str]] = {}
    for key in keys:
        rule = key_class(key)
        if rule == "admin" and not actor.is_admin:
            refused.setdefault("can only be set by an admin", []).append(key)
        elif rule == "creation" and not (creating or actor.is_admin):
            refused.setdefault("can only be set when a node is created or published", []).append(key)
        elif rule == "lock":
            refused.setdefault("can only be changed through lock/ and unlock/", []).append(key)
        elif rule == "sync" and not _is_agent(actor):
            refused.setdefault("are sync keys: only site agents (or admins) set them", []).append(key)
    if refused:
        why = "; ".join(f"keys {', '.join(sorted(ks))} {reason}" for reason, ks in refused.items())
        raise _forbidden(why, node_id)


def check_author(actor: Actor | None, node_id: str | None, current: Mapping[str, Any] | None) -> None:
    """authorMode: a non-admin changes only nodes whose `author` includes them."""
    if current is None or _is_admin(actor) or not conf.author_mode():
        return
    if not is_author(actor, current):
        raise _forbidden(f"only the author of {node_id} may change it", node_id)


def is_author(actor: Actor | None, data: Mapping[str, Any]) -> bool:
    if _is_admin(actor):
        return True
    author = data.get("author")
    if isinstance(author, list):
        return actor.name in author
    return author == actor.name


def check_write(actor: Actor | None, write: Write) -> None:
    """The whole matrix for one node: class, kind before and after, authorMode, keys; Forbidden otherwise."""
    op = write.op
    check_kind(actor, op, write.node_id, (write.kind_before, write.kind_after))
    if actor is None:
        return
    check_class(actor, op, write.node_id)
    check_author(actor, write.node_id, write.current)
    creating = write.kind_before is None and (op in CREATING_OPS or op == Op.UPSERT)
    check_keys(actor, op, write.node_id, changed_keys(write.keys, write.current), creating=creating)


def check_delete(actor: Actor | None, node_id: str, kind: str | None, current: Mapping[str, Any]) -> None:
    """Delete: editor+; admin kinds for admins; a node locked by someone else only by its holder or an admin."""
    check_kind(actor, Op.DELETE, node_id, (kind,))
    if actor is None:
        return
    check_class(actor, Op.DELETE, node_id)
    check_author(actor, node_id, current)
    holder = current.get("lock")
    if holder is not None and holder != actor.name and not actor.is_admin:
        raise _forbidden(f"{node_id} is locked by {holder}; only they or an admin may remove it", node_id)


def check_lock(actor: Actor | None, op: Op, node_id: str, kind: str | None, current: Mapping[str, Any]) -> None:
    """lock/unlock: user+; admin kinds for admins; authorMode. Holder rules are the caller's (409 / false)."""
    check_kind(actor, op, node_id, (kind,))
    if actor is None:
        return
    check_class(actor, op, node_id)
    check_author(actor, node_id, current)


def may_remove_lock(actor: Actor | None, holder: object) -> bool:
    """A lock is removed only by its holder or an admin."""
    return holder is None or _is_admin(actor) or holder == actor.name


def check_lock_override(actor: Actor | None) -> None:
    """Locking over someone else's lock, or removing any lock: admins (and the system) only."""
    if actor is not None and not actor.is_admin:
        raise _forbidden("only an admin may take or remove someone else's lock", None)


def check_comment(actor: Actor | None, keys: Iterable[str], parents: Iterable[tuple[str, str | None]]) -> None:
    """comment: user+; the keys of a new child node; parents of admin kinds need an admin."""
    if actor is None:
        return
    check_class(actor, Op.COMMENT)
    check_keys(actor, Op.COMMENT, None, keys, creating=False)
    for parent_id, kind in parents:
        check_kind(actor, Op.COMMENT, parent_id, (kind,))


# --------------------------------------------------------------------------------------------- reads


def hidden_keys(actor: Actor | None, kind: str | None) -> frozenset[str]:
    """Keys of a node of this kind that this reader must not see."""
    if _is_admin(actor):
        return frozenset()
    hidden = set() if actor.agent else set(SECRET_KEYS)
    if actor.user_class == UserClass.GUEST:
        hidden |= {key for key, kinds in GUEST_HIDDEN.items() if kind in kinds}
    return frozenset(hidden)


def redact(actor: Actor | None, wire: dict | None, kind: str | None) -> dict | None:
    """A node as this reader may see it (hidden keys taken out)."""
    if wire is None:
        return None
    hidden = hidden_keys(actor, kind)
    if not hidden or hidden.isdisjoint(wire):
        return wire
    return {k: v for k, v in wire.items() if k not in hidden}


def unsearchable_kinds(actor: Actor | None, keys: Iterable[str]) -> tuple[bool, frozenset[str]]:
    """A search or sort naming hidden keys must not reveal them: (refuse it, kinds to leave out of it)."""
    if _is_admin(actor):
        return False, frozenset()
    keys = set(keys)
    if not actor.agent and keys & SECRET_KEYS:
        return True, frozenset()
    kinds: set[str] = set()
    if actor.user_class == UserClass.GUEST:
        for key, hidden_on in GUEST_HIDDEN.items():
            if key in keys:
                kinds |= hidden_on
    return False, frozenset(kinds)


_TEXT_KEY = re.compile(r"^([^:<>=]+?)(?::|<=|>=|<|>)")


def text_query_keys(query: str) -> set[str]:
    """The keys a text query (`key:value key>3`) names."""
    keys = set()
    for term in query.split():
        match = _TEXT_KEY.match(term)
        if match:
            keys.add(match.group(1))
    return keys


def mongo_query_keys(query: Any, depth: int = 0) -> set[str]:
    """The keys a mongo-style query or sort names (operators `$...` are walked, not counted)."""
    keys: set[str] = set()
    if depth > 64:
        return keys
    if isinstance(query, dict):
        for key, value in query.items():
            if isinstance(key, str) and not key.startswith("$"):
                keys.add(key)
            keys |= mongo_query_keys(value, depth + 1)
    elif isinstance(query, list):
        for item in query:
            keys |= mongo_query_keys(item, depth + 1)
    return keys
