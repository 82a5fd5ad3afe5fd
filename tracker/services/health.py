"""The tracker's operational health: per-site counts, agent rounds reported as events, stale agents, stuck errors.

Events go out through the kernel (`syncsite.events`); whoever listens (the notifications app) decides who is
told. A volume's `notifiedEmails` ride on its events. Agents run from cron record `agentLastRun` (epoch ms)
and a heartbeat row, so pages show "last ran …" instead of "off".
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Count, Min, Q

from syncsite import events, heartbeats
from tracker import conf
from tracker.models import SiteState
from tracker.services.columns import now_ms
from tracker.services.queue import _backoff_q
from tracker.services.sitesetup import update_volume
from tracker.services.sitestate import get_volume, sites, sync_everywhere, volumes

AGENT_FAILURES = "tracker.agent_failures"
AGENT_SILENT = "tracker.agent_silent"
FILE_ERROR = "tracker.file_error"
LINES = 200


def declare_events() -> None:
    events.declare(AGENT_FAILURES, "Tracker: an agent round had failures")
    events.declare(AGENT_SILENT, "Tracker: an agent has not reported for a while")
    events.declare(FILE_ERROR, "Tracker: files stayed in error at a site")


def _emails(volume: dict | None) -> list[str]:
    value = (volume or {}).get("notifiedEmails") or []
    if isinstance(value, str):
        value = value.split(",")
    return [str(e).strip() for e in value if isinstance(e, str) and e.strip()]


def error_paths(site: str, limit: int = LINES) -> list[str]:
    """The first files in error at `site`, with their exit codes."""
    rows = (  # in the queue index's order, so the first ones are found without sorting the site's rows
        SiteState.objects.filter(site=site, active=True, error__isnull=False, syncing__isnull=True)
        .order_by("-priority", "time", "path")
        .values_list("path", "error")[:limit]
    )
    return [f"{path}: exit code {code}" for path, code in rows]


def summarize(report: dict) -> tuple[str, int, list[str]]:
    """An agent round's report (RoundReport.as_dict()) as one line, the number of failures and the problems.

    A phase skipped for a configuration error (an unusable url) counts as a failure; a phase switched off
    does not.
    """
    reception, emission, scan = report.get("reception", {}), report.get("emission", {}), report.get("scan", {})
    problems: list[str] = []
    failed = int(reception.get("errors") or 0) + int(emission.get("errors") or 0)
    for name, phase in (("reception", reception), ("emission", emission), ("scan", scan)):
        skipped = phase.get("skipped") or ""
        if skipped and not skipped.endswith("disabled") and "recently" not in skipped:
            problems.append(f"{name}: {skipped}")  # a phase that could not run at all
            failed += 1
    scan_errors = scan.get("errors") or []
    if isinstance(scan_errors, list):
        problems += [f"scan: {e}" for e in scan_errors[:LINES]]
        failed += len(scan_errors)
    synced = int(reception.get("synced") or 0) + int(emission.get("synced") or 0)
    summary = (
        f"{synced} synced, {failed} failed (reception {reception.get('synced', 0)}/{reception.get('errors', 0)},"
        f" emission {emission.get('synced', 0)}/{emission.get('errors', 0)}, scan {scan.get('published', 0)} new)"
    )
    return summary, failed, problems


def report_round(site: str, summary: str, failed: int, problems: list[str] | None = None) -> None:
    """After an agent round: record the run (volume keys, heartbeat) and raise or resolve the failure event."""
    volume = get_volume(site)
    update_volume(site, {"agentLastRun": now_ms(), "agentLastRunSummary": summary[:500]})
    heartbeats.beat(f"agent:{site}", ok=not failed, summary=summary)
    if failed:
        lines = list(problems or []) + error_paths(site)
        events.emit(
            AGENT_FAILURES,
            site,
            f"agent {site}: {summary}",
            lines=lines,
            count=failed,
            site=site,
            emails=_emails(volume),
            url=f"/tracker/?site={site}",
        )
    elif not error_paths(site, limit=1):  # files still in error (waiting for their retry) are no recovery
        events.resolve(AGENT_FAILURES, site, title=f"agent {site}: {summary}")


def site_health() -> list[dict]:
    """Per site: queue length, files in error, agent status and when it last ran or reported (epoch ms).

    A fixed number of queries whatever the number of sites: the queue is counted as `pending_count` counts
    it (wanted, unclaimed or stale claim, out of backoff), for every site in one grouped query.
    """
    now = now_ms()
    wanted = Q(wanted=True) | (Q(wanted__isnull=True) if sync_everywhere() else Q(pk__in=[]))
    claim = Q(syncing__isnull=True) | Q(syncing__lt=now - conf.syncing_stale_seconds() * 1000)
    counts = {
        row["site"]: row
        for row in SiteState.objects.filter(active=True)
        .values("site")
        .annotate(
            errors=Count("id", filter=Q(error__isnull=False, syncing__isnull=True)),
            queue=Count("id", filter=wanted & claim & _backoff_q(now)),
        )
    }
    by_name = {(v.get("name") or v.get("_id")): v for v in volumes()}
    rows = []
    for site in sites():
        volume = by_name.get(site, {})
        last = max(
            (v for v in (volume.get("lastConnectionAttempt"), volume.get("agentLastRun")) if isinstance(v, int)),
            default=None,
        )
        rows.append(
            {
                "site": site,
                "queue": counts.get(site, {}).get("queue", 0),
                "errors": counts.get(site, {}).get("errors", 0),
                "agent_status": volume.get("agentStatus") or "",
                "last_report_ms": last,
                "last_run_ms": volume.get("agentLastRun"),
                "emails": _emails(volume),
            }
        )
    return rows


def stale_agents(minutes: int | None = None) -> list[dict]:
    """Sites whose agent reported before but not within `minutes` (OPS_AGENT_STALE_MINUTES)."""
    minutes = minutes or getattr(settings, "OPS_AGENT_STALE_MINUTES", 30)
    limit = now_ms() - minutes * 60_000
    return [row for row in site_health() if row["last_report_ms"] is not None and row["last_report_ms"] < limit]


def check_health(agent_minutes: int | None = None, error_minutes: int | None = None) -> dict:
    """Raise (or resolve) "agent silent" per site and "files stuck in error" per site; the schedulable check."""
    agent_minutes = agent_minutes or getattr(settings, "OPS_AGENT_STALE_MINUTES", 30)
    error_minutes = error_minutes or getattr(settings, "OPS_FILE_ERROR_MINUTES", 60)
    health = site_health()
    stale = {row["site"] for row in stale_agents(agent_minutes)}
    limit = now_ms() - error_minutes * 60_000
    stuck = {
        row["site"]: row
        for row in SiteState.objects.filter(active=True, error__isnull=False, syncing__isnull=True, time__lt=limit)
        .values("site")
        .annotate(n=Count("id"), oldest=Min("time"))
    }
    for row in health:
        site = row["site"]
        if site in stale:
            events.emit(
                AGENT_SILENT,
                site,
                f"agent {site} has not reported for {agent_minutes} minutes",
                site=site,
                emails=row["emails"],
                url=f"/tracker/?site={site}",
            )
        else:
            events.resolve(AGENT_SILENT, site, title=f"agent {site} reports again")
        if site in stuck:
            n = stuck[site]["n"]
            events.emit(
                FILE_ERROR,
                site,
                f"{n} file(s) in error at {site} for more than {error_minutes} minutes",
                lines=error_paths(site),
                count=n,
                site=site,
                emails=row["emails"],
                url=f"/tracker/?site={site}",
            )
        else:
            events.resolve(FILE_ERROR, site, title=f"no file stuck in error at {site}")
    return {"stale_agents": sorted(stale), "stuck_errors": {s: r["n"] for s, r in stuck.items()}}
