"""django-q2 tasks that drive site agents from a schedule or a long-running worker."""

from __future__ import annotations

import logging

from django.db import transaction
from django_q.tasks import async_task

from tracker import services
from tracker.agent.runner import AgentError

logger = logging.getLogger(__name__)


def agent_round(site: str) -> dict:
    """One agent round for `site` (as `tracker_agent --once`, but scans wait for sleepBetweenScans)."""
    agent = services.site_agent(site)
    try:
        report = agent.run_once(force_scan=False)
    finally:
        agent.shutdown()
    data = report.as_dict()
    summary, failed, problems = services.summarize(data)
    services.report_round(site, summary, failed, problems)
    return data


def agent_rounds(sites: list[str] | None = None) -> dict:
    """A round for each site (all volumes by default) whose volume lives on this machine, for one schedule."""
    reports: dict = {}
    for site, not_local in services.sites_on_this_machine(sites).items():
        if not_local:
            reports[site] = {"skipped": not_local}
            continue
        try:
            reports[site] = agent_round(site)
        except AgentError as exc:
            logger.warning("agent round for %s skipped: %s", site, exc)
            reports[site] = {"skipped": str(exc)}
    return reports


def enqueue_agent_round(site: str) -> None:
    """Queue a round once the current transaction commits (e.g. right after a publish)."""
    transaction.on_commit(lambda: async_task("tracker.tasks.agent_round", site, task_name=f"tracker agent {site}"))


def check_health() -> dict:
    """Raise or resolve the "agent silent" and "files stuck in error" events (see tracker.services.health)."""
    from tracker import services

    return services.check_health()


def sweep_orphan_states() -> int:
    """Delete state rows whose node is gone (daily): see tracker.services.remove_orphan_states."""
    return services.remove_orphan_states()
