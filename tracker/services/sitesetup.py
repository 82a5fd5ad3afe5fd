"""Volumes and the rsyncGlobalParameters node: creation, agent status, the monitoring overview, local volumes."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction

from tracker import rsyncpolicy
from tracker.models import Node
from tracker.services.actors import Actor
from tracker.services.columns import GLOBAL_PARAMETERS_ID, _volume_name
from tracker.services.errors import AlreadyExists, InvalidInput, NotFound, TrackerError
from tracker.services.nodes import create_nodes, update_nodes
from tracker.services.queue import pending_count
from tracker.services.sitestate import _volume_node, get_volume, sites, volumes

if TYPE_CHECKING:
    from tracker.agent.runner import SiteAgent


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


def sites_on_this_machine(site_names: list[str] | None = None) -> dict[str, str]:
    """Which of these sites (all by default) have their volume on this machine: site -> "" when local, else why
    not. A scheduled agent round runs only where the volume's folder is."""
    answer: dict[str, str] = {}
    for site in site_names or sites():
        volume = get_volume(site) or {}
        try:
            location = rsyncpolicy.parse_url(volume.get("url") or "")
        except rsyncpolicy.VolumeURLError as exc:
            answer[site] = str(exc)
            continue
        if location.host is not None or not os.path.isdir(location.path):
            answer[site] = "the volume is not on this machine"
        else:
            answer[site] = ""
    return answer


def site_agent(site: str, *, log: Callable[[str], None] | None = None) -> SiteAgent:
    """The agent of `site` (tracker.agent): commands, tasks and benchmarks start agents through here."""
    from tracker.agent.runner import SiteAgent

    return SiteAgent(site, log=log)
