"""PostgreSQL specifics: set-based SQL for state rows, bulk inserts and the SKIP LOCKED work queue."""

from __future__ import annotations

import json

from django.db import connection

from tracker import conf
from tracker.models import Node
from tracker.numbers import NodeJSONDecoder
from tracker.services.columns import INT32_MAX, INT64_MAX, _columns


def _pg_key_number(prefix: str, bound: int = INT64_MAX) -> str:
    """SQL for a per-site key as a clamped integer (the same rule as _int_or_none)."""
    key = f"('{prefix}_' || s.site)"
    value = f"LEAST(GREATEST((n.data ->> {key})::numeric, {-bound - 1}), {bound})"
    return f"(CASE WHEN jsonb_typeof(n.data -> {key}) = 'number' THEN {value}::bigint END)"


def _pg_state_columns() -> str:
    """The select list of a state row from a node `n` and a site `s` (the same rules as _state_for)."""
    synced, syncing = _pg_key_number("synced"), _pg_key_number("syncing")
    error, attempt = _pg_key_number("syncError", INT32_MAX), _pg_key_number("syncLastAttempt")
    wanted = (
        "(CASE WHEN jsonb_typeof(n.data -> ('sync_' || s.site)) = 'boolean'"
        " THEN (n.data ->> ('sync_' || s.site))::boolean"
        " WHEN jsonb_typeof(n.data -> 'syncEverywhere') = 'boolean' THEN (n.data ->> 'syncEverywhere')::boolean END)"
    )
    return f"""n.id, s.site, n.node_id, n.sync_priority, COALESCE(n.time, 0),
                NOT n.deleted AND COALESCE({synced} < COALESCE(n.time, 0), TRUE),
                {wanted}, {synced}, {syncing}, {error}::integer, {attempt},
                CASE WHEN n.data ? ('syncError_' || s.site) THEN 1 ELSE 0 END"""


_STATE_COLUMNS = "(node_id, site, path, priority, time, active, wanted, synced, syncing, error, last_attempt, failures)"


def _pg_insert_states(where: str, params: list, site_names: list[str], *, on_conflict: bool = True) -> None:
    """Build state rows in the database from the nodes' JSON (the same rules as _state_for), no round trips."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO tracker_sitestate {_STATE_COLUMNS}
            SELECT {_pg_state_columns()}
            FROM tracker_node n CROSS JOIN unnest(%s::text[]) AS s(site)
            WHERE n.kind IN ('file', 'folder') AND n.origin IS DISTINCT FROM s.site AND {where}
            {"ON CONFLICT (node_id, site) DO NOTHING" if on_conflict else ""}
            """,  # noqa: S608 - fixed SQL; values are parameters
            [list(site_names), *params],
        )


_NODE_COLUMNS = "node_id, kind, parent, origin, time, sync_priority, deleted, authors, data"
_STAGE = "tracker_publish_stage"
_STAGE_SQL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} (ord integer, plain boolean, child_id text, node_id text, kind text,"
    " parent text,"
    " origin text,"
    " time bigint, sync_priority integer, deleted boolean, authors text, data jsonb) ON COMMIT DELETE ROWS"
)

# One statement: empty the staging table, insert the files not tracked yet, a child node recording each
# publication (its keys are the file's: comment, origin, author, time), and the file's state row at every
# site but its origin. The sites are the volumes' names, as `sites()` reads them.
_PG_PUBLISH_MERGE = f"""
WITH staged AS (
    DELETE FROM {_STAGE} RETURNING *
), files AS (
    INSERT INTO tracker_node ({_NODE_COLUMNS})
    SELECT node_id, kind, parent, origin, time, sync_priority, deleted, authors, data FROM staged ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING id, {_NODE_COLUMNS}
), children AS (
    INSERT INTO tracker_node ({_NODE_COLUMNS})
    SELECT s.child_id, 'child', f.node_id, f.origin, f.time, 0, FALSE, f.authors,
        jsonb_build_object('#parent', f.node_id, 'comment', COALESCE(f.data -> 'comment', '""'::jsonb),
                           'origin', f.data -> 'origin', 'author', f.data -> 'author', 'time', f.data -> 'time')
    FROM staged s JOIN files f ON f.node_id = s.node_id
    ORDER BY s.ord
    ON CONFLICT DO NOTHING
), sites AS (
    SELECT DISTINCT CASE WHEN jsonb_typeof(data -> 'name') = 'string' AND data ->> 'name' <> ''
        THEN data ->> 'name' ELSE node_id END AS site
    FROM tracker_node WHERE kind = 'volume'
), states AS (
    INSERT INTO tracker_sitestate {_STATE_COLUMNS}
    SELECT {_pg_state_columns()}
    FROM files n JOIN staged p ON p.node_id = n.node_id AND NOT p.plain CROSS JOIN sites s
    WHERE n.kind IN ('file', 'folder') AND n.origin IS DISTINCT FROM s.site
    UNION ALL
    -- Files without any sync key (the usual publish): pending everywhere, no JSON to read.
    SELECT n.id, s.site, n.node_id, n.sync_priority, COALESCE(n.time, 0), NOT n.deleted, NULL::boolean,
        NULL::bigint, NULL::bigint, NULL::integer, NULL::bigint, 0
    FROM files n JOIN staged p ON p.node_id = n.node_id AND p.plain CROSS JOIN sites s
    WHERE n.kind IN ('file', 'folder') AND n.origin IS DISTINCT FROM s.site
)
SELECT node_id FROM files
"""  # noqa: S608 - fixed SQL; values are parameters


def _plain(data: dict) -> bool:
    """No key of the node bears on its state rows (sync_<site>, synced_<site>, syncEverywhere, ...)."""
    return not any(key.startswith("sync") and key != "sync_priority" for key in data)


def _pg_publish(files: list[tuple[str, str, dict]]) -> set[str]:
    """Publish (file id, child id, keys) in three round trips: make sure the session's staging table exists,
    COPY the files into it, and run one set-based merge (`_PG_PUBLISH_MERGE`).

    Returns the ids of the files inserted; the others were already tracked (or were just created by a
    concurrent writer: `ON CONFLICT DO NOTHING` waits for it and skips, no error). Row and statement triggers
    on tracker_node fire for every inserted row as for any insert.
    """
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    with connection.cursor() as cursor:
        cursor.execute(_STAGE_SQL)
        columns = f"ord, plain, child_id, {_NODE_COLUMNS}"
        with cursor.cursor.copy(f"COPY {_STAGE} ({columns}) FROM STDIN") as copy:
            for ord_, (node_id, child_id, data) in enumerate(files):
                c = _columns(node_id, data)
                copy.write_row(
                    (ord_, _plain(data), child_id, node_id, c["kind"], c["parent"], c["origin"], c["time"],
                     c["sync_priority"], c["deleted"], c["authors"], dumps(data))
                )  # fmt: skip
        cursor.execute(_PG_PUBLISH_MERGE)
        return {row[0] for row in cursor.fetchall()}


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
    RETURNING id, node_id, origin, data, sync_priority, COALESCE(time, 0) AS time
)
SELECT stamped.node_id, {columns} FROM stamped
ORDER BY stamped.sync_priority DESC, stamped.time, stamped.node_id
"""
# The queue's order (priority, time, path) is the node's own (sync_priority, time, node_id): the answer is
# ordered from the stamped rows alone. A join back to `claimed` was planned as a nested loop over two CTEs
# estimated at one row each: quadratic in the batch (a third of a second for 1,000 files).


def _pg_pending(site: str, limit: int, now: int, origin: str | None = None, *, lean: bool = False) -> list:
    """The PostgreSQL work queue in two statements: give back stale claims, then claim and stamp.

    `lean`: answer (path, origin) pairs instead of whole nodes (the agent needs nothing else).

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
        columns = "stamped.origin" if lean else "stamped.data"
        cursor.execute(_PG_CLAIM_SQL.format(origin=origin_sql, columns=columns), params)
        rows = cursor.fetchall()
    if lean:
        return [(node_id, origin_name) for node_id, origin_name in rows]
    return [
        {"_id": node_id, **(json.loads(data, cls=NodeJSONDecoder) if isinstance(data, str) else data)}
        for node_id, data in rows
    ]
