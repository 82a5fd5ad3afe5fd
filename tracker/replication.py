"""What a replication pull (synctools) may change in this site's tracker: the file's origin site wins.

A pulled node replaces the local node with the same `_id`, except a local node that belongs to this site:
its `origin` is one of `TRACKER_LOCAL_SITES` (the sites this installation is the origin of); or, when that
setting is empty, it was not pulled from this source and its `origin` differs from the pulled copy's.
Child nodes (comments, versions) and per-site states follow their node: refused with it, or when their node
here belongs to this site.
"""

from __future__ import annotations

from typing import Any

from tracker import conf
from tracker.models import Node, SiteState


def _parent_of(node: Node) -> str | None:
    parent = node.data.get("#parent") if isinstance(node.data, dict) else None
    return parent if isinstance(parent, str) else None


def _belongs_here(local: Node, pulled_origin: str | None, own: set[str], pulled_before: bool) -> bool:
    if local.origin is not None and local.origin in own:
        return True
    return not own and not pulled_before and local.origin != pulled_origin


def node_refusals(rows: list[tuple[Node, Node | None]], context: Any) -> set[int]:
    """Indexes of (pulled, local) pairs whose pulled node must not replace (or join) the local data."""
    own = set(conf.local_sites())
    pulled_before = context.came_from_source(Node, [local.pk for _, local in rows if local is not None])
    parent_ids = {parent for pulled, _ in rows if (parent := _parent_of(pulled))}
    parents = (
        {n.node_id: n for n in Node.objects.filter(node_id__in=parent_ids).only("pk", "node_id", "origin")}
        if parent_ids
        else {}
    )
    refused_before = context.refused(Node)
    refused_ids: set[str] = set()  # refused in this batch: a child later in it follows
    refused: set[int] = set()
    for index, (pulled, local) in enumerate(rows):
        parent_id = _parent_of(pulled)
        if parent_id is not None:
            parent = parents.get(parent_id)
            if parent_id in refused_ids or (
                parent is not None
                and (parent.pk in refused_before or (parent.origin is not None and parent.origin in own))
            ):
                refused.add(index)
                continue
        if local is not None and _belongs_here(local, pulled.origin, own, local.pk in pulled_before):
            refused.add(index)
            refused_ids.add(pulled.node_id)
    return refused


def state_refusals(rows: list[tuple[SiteState, SiteState | None]], context: Any) -> set[int]:
    """A state follows its node: refused where the node's pulled copy was, where the node belongs to this site,
    and where the node is not here."""
    refused_nodes = context.refused(Node)
    own = conf.local_sites()
    node_pks = {pulled.node_id for pulled, _ in rows}
    # The node's origin here, for each state's node that exists: a state without its node is refused too
    # (the table has no foreign key constraint to do it; see SiteState.node).
    origins = dict(Node.objects.filter(pk__in=node_pks).values_list("pk", "origin")) if node_pks else {}
    return {
        index
        for index, (pulled, _) in enumerate(rows)
        if pulled.node_id in refused_nodes or pulled.node_id not in origins or (own and origins[pulled.node_id] in own)
    }
