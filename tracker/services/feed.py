"""The change feed: tracker events (create, update, delete, lock, unlock, publish) read from the change log.

The log is written by database triggers in the writers' own transactions (`syncsite.changes`), so every write
path, bulk SQL included, shows up; the writers label locks and publishes. Events are filtered per reader as reads
are: in authorMode a non-admin sees only nodes they authored, and hidden keys are left out of the nodes sent.
"""

from __future__ import annotations

from syncsite import changes
from tracker import conf, permissions
from tracker.models import Node
from tracker.services.actors import Actor

NODE_LABEL = "tracker.node"
MAX_EVENTS = 1000  # log rows per answer; one log row holds every row of one statement (PostgreSQL)


class InvalidFeedCursor(ValueError):
    """A `since` this site did not hand out."""


def parse_cursor(value: str) -> changes.Cursor:
    """The feed's cursor (the change log's); InvalidFeedCursor when it is not one, or it expired."""
    try:
        cursor = changes.parse(value)
    except changes.InvalidCursor as exc:
        raise InvalidFeedCursor(str(exc)) from None
    if changes.expired(cursor):
        raise InvalidFeedCursor("This cursor is older than the change log's retention; start again without `since`.")
    return cursor


def current_cursor() -> str:
    return str(changes.current())


def events(actor: Actor | None, since: changes.Cursor, limit: int = MAX_EVENTS) -> tuple[list[dict], changes.Cursor]:
    """The events after `since` this actor may see, and the cursor to resume from."""
    scope = None
    if conf.author_mode() and actor is not None and not actor.is_admin:
        scope = f"|{actor.name}|"
    rows, cursor = changes.events([NODE_LABEL], since, limit=min(limit, MAX_EVENTS), scope_contains=scope)
    live_pks = {int(pk) for row in rows if row.op != "delete" for pk, _, _ in row.entries()}
    nodes = {n.pk: n for n in Node.objects.filter(pk__in=live_pks)} if live_pks else {}
    out = []
    for row in rows:
        for pk, key, _ in row.entries():
            node = nodes.get(int(pk)) if row.op != "delete" else None
            event = {"seq": row.id, "event": row.op, "_id": (key or [None])[0], "time": row.time.isoformat()}
            if row.origin:
                event["replicated"] = True  # applied by a replication pull, not written here
            if node is not None:
                event["node"] = permissions.redact(actor, node.as_wire(), permissions.kind_of(node.node_id, node.kind))
            out.append(event)
    return out, cursor
