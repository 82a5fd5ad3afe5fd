"""The only door into the tracker: other apps, the views, the admin and the agent call these functions, never
the models directly.

Times are epoch milliseconds. Every public function runs in one transaction. Node dicts are the wire JSON
(`{"_id": ..., **keys}`). A site is a volume's `name` (falling back to the volume's `_id`).

The JSON keys are the truth clients see; the columns of `Node` and the rows of `SiteState` are copies that
this package keeps in step so that the hot queries (work queue, prefix search, children) use indexes.

Modules: `errors`, `actors` (who calls, the permission glue), `columns` (ids, column copies, JSON patches),
`nodes` (reads, writes, publish, locks, graph), `queue` (sync marks, work queue, claims), `sitestate` (volume
reads, state rows), `sitesetup` (creating volumes, global parameters), `users` (user nodes, tokens), `postgres`
(PostgreSQL's set-based SQL), `dashboard`. This module re-exports their public names.
"""

from __future__ import annotations

from tracker.models import FILE_KINDS
from tracker.services.actors import (
    Actor,
    actor_for,
    check_write,
    user_class_of,
)
from tracker.services.columns import (
    GLOBAL_DEFAULTS,
    GLOBAL_PARAMETERS_ID,
    INT32_MAX,
    INT64_MAX,
    MAX_ID_LENGTH,
    VOLUME_MARKER_KEYS,
    new_child_id,
    now_ms,
    validate_file_id,
    validate_node_id,
)
from tracker.services.dashboard import (
    dashboard_cards,
    dashboard_sections,
)
from tracker.services.errors import (
    AlreadyExists,
    Conflict,
    Forbidden,
    InvalidId,
    InvalidInput,
    NotFound,
    TrackerError,
)
from tracker.services.nodes import (
    UPSERT_ATTEMPTS,
    children_of,
    comment_nodes,
    create_nodes,
    delete_nodes,
    force_lock,
    force_unlock,
    get_node,
    get_nodes,
    graph,
    iter_file_nodes,
    lock_nodes,
    publish,
    publish_many,
    publish_nodes,
    read_nodes,
    readable,
    unlock_nodes,
    update_node,
    update_nodes,
    upsert_nodes,
    version_node,
    visible_nodes,
)
from tracker.services.postgres import (
    _pg_insert_states,
)
from tracker.services.queue import (
    batch_size,
    emission_for_site,
    mark_deleted_many,
    mark_error,
    mark_error_many,
    mark_modified,
    mark_synced,
    mark_synced_many,
    mark_syncing,
    pending_count,
    pending_for_site,
    release_claims,
    site_status,
)
from tracker.services.sitesetup import (
    create_volume,
    set_global_parameters,
    site_agent,
    sites_on_this_machine,
    sites_overview,
    update_volume,
)
from tracker.services.sitestate import (
    get_volume,
    global_parameters,
    sites,
    sync_everywhere,
    volumes,
)
from tracker.services.users import (
    SIGN_IN_LABEL,
    actor_for_token,
    remove_user_node,
    revoke_tokens,
    set_user_class,
    sign_in,
    sync_user_node,
    user_for_token,
    user_model,
    user_node,
)

__all__ = [
    "FILE_KINDS",
    "GLOBAL_DEFAULTS",
    "GLOBAL_PARAMETERS_ID",
    "INT32_MAX",
    "INT64_MAX",
    "MAX_ID_LENGTH",
    "SIGN_IN_LABEL",
    "UPSERT_ATTEMPTS",
    "VOLUME_MARKER_KEYS",
    "Actor",
    "AlreadyExists",
    "Conflict",
    "Forbidden",
    "InvalidId",
    "InvalidInput",
    "NotFound",
    "TrackerError",
    "_pg_insert_states",
    "actor_for",
    "actor_for_token",
    "batch_size",
    "check_write",
    "children_of",
    "comment_nodes",
    "create_nodes",
    "create_volume",
    "dashboard_cards",
    "dashboard_sections",
    "delete_nodes",
    "emission_for_site",
    "force_lock",
    "force_unlock",
    "get_node",
    "get_nodes",
    "get_volume",
    "global_parameters",
    "graph",
    "iter_file_nodes",
    "lock_nodes",
    "mark_deleted_many",
    "mark_error",
    "mark_error_many",
    "mark_modified",
    "mark_synced",
    "mark_synced_many",
    "mark_syncing",
    "new_child_id",
    "now_ms",
    "pending_count",
    "pending_for_site",
    "publish",
    "publish_many",
    "publish_nodes",
    "read_nodes",
    "readable",
    "release_claims",
    "remove_user_node",
    "revoke_tokens",
    "set_global_parameters",
    "set_user_class",
    "sign_in",
    "site_agent",
    "site_status",
    "sites",
    "sites_on_this_machine",
    "sites_overview",
    "sync_everywhere",
    "sync_user_node",
    "unlock_nodes",
    "update_node",
    "update_nodes",
    "update_volume",
    "upsert_nodes",
    "user_class_of",
    "user_for_token",
    "user_model",
    "user_node",
    "validate_file_id",
    "validate_node_id",
    "version_node",
    "visible_nodes",
    "volumes",
]
