"""Read-only queries behind the monitoring page (`/tracker/`): paged, index-friendly, a fixed number per page.

Pages use keyset pagination on the path (`_id > after`, the unique index, or SiteState's (site, path) index),
never OFFSET. The per-site totals count only active state rows (the queue's partial index: small when sites
keep up); the one count over all files is cached briefly, like the totals. Writes stay in `tracker.services`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Count, Q

from tracker import permissions, services
from tracker.models import FILE_KINDS, Node, NodeKind, SiteState

PAGE_SIZE = 50
SUMMARY_CACHE_SECONDS = 30
STATES = ("synced", "outdated", "syncing", "error", "unwanted", "origin")
# services.site_status words -> the page's colour classes (a wanted file not there yet is outdated: yellow).
CSS_OF_STATUS = {
    "origin": "synced",
    "synced": "synced",
    "outdated": "outdated",
    "missing": "outdated",
    "syncing": "syncing",
    "error": "error",
    "not wanted": "unwanted",
}


# A letter per state (en dash: not wanted), so colour is never the only signal.
LETTER_OF_CSS = {"synced": "✓", "outdated": "O", "syncing": "↻", "error": "!", "unwanted": "\u2013"}


@dataclass
class Cell:
    site: str
    css: str
    status: str
    title: str

    @property
    def letter(self) -> str:
        return "●" if self.status == "origin" else LETTER_OF_CSS.get(self.css, "?")


def _ms(value: object) -> str:
    from datetime import UTC, datetime

    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-"
    return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def cell(node: dict, site: str, everywhere: bool) -> Cell:
    """One coloured cell: the state of `node` at `site`, with what a person hovering needs to know."""
    status = services.site_status(node, site, everywhere)
    css = CSS_OF_STATUS.get(status, "unwanted")
    if status == "error":
        title = (
            f"{site}: error, exit code {node.get(f'syncError_{site}')}"
            f" (last attempt {_ms(node.get(f'syncLastAttempt_{site}'))})"
        )
    elif status == "syncing":
        title = f"{site}: syncing since {_ms(node.get(f'syncing_{site}'))}"
    elif status in {"synced", "outdated"}:
        title = f"{site}: {status}, copied {_ms(node.get(f'synced_{site}'))}"
    elif status == "origin":
        title = f"{site}: origin"
    else:
        title = f"{site}: {status}"
    return Cell(site=site, css=css, status=status, title=title)


def _state_q(state: str, everywhere: bool) -> Q:
    wanted = Q(wanted=True) | (Q(wanted__isnull=True) if everywhere else Q(pk__in=[]))
    if state == "synced":
        return Q(active=False, synced__isnull=False, syncing__isnull=True, error__isnull=True)
    if state == "outdated":
        return Q(active=True, syncing__isnull=True, error__isnull=True) & wanted
    # Claims and failures concern the current version only (active rows): the queue's partial index serves them.
    if state == "syncing":
        return Q(active=True, syncing__isnull=False)
    if state == "error":
        return Q(active=True, error__isnull=False, syncing__isnull=True)
    if state == "unwanted":
        return ~wanted & Q(syncing__isnull=True, error__isnull=True) & (Q(synced__isnull=True) | Q(active=True))
    raise ValueError(state)


def file_page(
    prefix: str = "/",
    site: str | None = None,
    state: str | None = None,
    after: str | None = None,
    actor: services.Actor | None = None,
) -> tuple[list[dict], str | None]:
    """One page of file nodes under `prefix` (optionally those in `state` at `site`), and the next page's key.

    With authorMode on, a non-admin `actor` sees only the nodes they authored, as everywhere in the tracker.
    """
    prefix = prefix or "/"
    visible = services.visible_nodes(actor)
    if state and state != "origin":
        everywhere = services.sync_everywhere()
        qs = SiteState.objects.filter(_state_q(state, everywhere), site=site, path__startswith=prefix)
        if after:
            qs = qs.filter(path__gt=after)
        pks = list(qs.order_by("path").values_list("node_id", flat=True)[: PAGE_SIZE + 1])
        has_more = len(pks) > PAGE_SIZE
        rows = [n.as_wire() for n in visible.filter(pk__in=pks[:PAGE_SIZE]).order_by("node_id")]
    else:
        # The range lets an ordered index scan start at the prefix even when the planner skips the LIKE index.
        nodes = visible.filter(kind__in=FILE_KINDS, node_id__startswith=prefix, node_id__gte=prefix)
        if state == "origin":
            nodes = nodes.filter(origin=site)
        if after:
            nodes = nodes.filter(node_id__gt=after)
        rows = [n.as_wire() for n in nodes.order_by("node_id")[: PAGE_SIZE + 1]]
        has_more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
    return rows, (rows[-1]["_id"] if has_more and rows else None)


def site_summaries(site_names: list[str], actor: services.Actor | None = None) -> list[dict]:
    """Per site: its volume's agent keys, the work queue length and counts by state (cached briefly), as
    `actor` may read them (guests see no url, only admins and agents the rsync_env)."""
    hidden = permissions.hidden_keys(actor, NodeKind.VOLUME)
    return [
        {
            **summary,
            "volume": permissions.redact(actor, summary["volume"], NodeKind.VOLUME),
            "url": "" if "url" in hidden else summary["url"],
        }
        for summary in _site_summaries(site_names)
    ]


def _site_summaries(site_names: list[str]) -> list[dict]:
    cached = cache.get("tracker:monitoring:summary")
    if cached is not None and [s["site"] for s in cached] == site_names:
        return cached
    volumes = {v.get("name") or v["_id"]: v for v in services.volumes()}
    everywhere = services.sync_everywhere()
    active = {
        row["site"]: row
        for row in SiteState.objects.filter(active=True)
        .values("site")
        .annotate(
            n_outdated=Count("id", filter=_state_q("outdated", everywhere)),
            n_syncing=Count("id", filter=Q(syncing__isnull=False)),
            n_errors=Count("id", filter=Q(error__isnull=False, syncing__isnull=True)),
        )
    }
    summaries = []
    for site in site_names:
        counts = active.get(site, {})
        volume = volumes.get(site, {})
        summaries.append(
            {
                "site": site,
                "volume": volume,
                "queue": services.pending_count(site),
                "outdated": counts.get("n_outdated", 0),
                "syncing": counts.get("n_syncing", 0),
                "errors": counts.get("n_errors", 0),
                "agent_status": _agent_status(volume),
                "agent_version": volume.get("agentVersion") or "",
                "last_connection": _ms(volume.get("lastConnectionSuccess")),
                "last_reception": _ms(volume.get("last_reception")),
                "last_emission": _ms(volume.get("last_emission")),
                "last_scan": _ms(volume.get("last_scan")),
                "scan_duration": volume.get("scan_duration"),
                "exit_reception": volume.get("exit_reception"),
                "exit_scan": volume.get("exit_scan"),
                "stderr_reception": volume.get("stderr_reception") or "",
                "bytes_total": _whole(volume.get("bytesTotal")),
                "bytes_used": _whole(volume.get("bytesUsed")),
                "capacity_error": volume.get("capacityError") or "",
                "exit_deletion": volume.get("exit_deletion"),
                "stderr_deletion": volume.get("stderr_deletion") or "",
                "url": volume.get("url") or "",
            }
        )
    cache.set("tracker:monitoring:summary", summaries, SUMMARY_CACHE_SECONDS)
    return summaries


def _agent_status(volume: dict) -> str:
    """ "on", or for an agent that runs from cron (--once) and is off between rounds, "last ran <when>"."""
    status = volume.get("agentStatus") or "unknown"
    if status == "off" and isinstance(volume.get("agentLastRun"), int | float):
        return f"last ran {_ms(volume['agentLastRun'])}"
    return status


def _whole(value: object) -> int | None:
    """A byte count from a volume key, or None when absent or not a number."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def tracked_files() -> int:
    """Files and folder packages tracked (not deleted), cached like the site totals."""
    count = cache.get("tracker:monitoring:files")
    if count is None:
        count = Node.objects.filter(kind__in=FILE_KINDS, deleted=False).count()
        cache.set("tracker:monitoring:files", count, SUMMARY_CACHE_SECONDS)
    return count


def column_sites() -> list[str]:
    """The sites shown as columns: volumes and the sites other apps feed (Syncthing), see services.column_sites."""
    return services.column_sites()


def kind_of(node_id: str) -> str | None:
    """The stored kind of a node (what the permission matrix judges)."""
    return Node.objects.filter(node_id=node_id).values_list("kind", flat=True).first()


def format_ms(value: object) -> str:
    return _ms(value)
