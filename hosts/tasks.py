"""django-q2 task functions of hosts (schedules point at these dotted paths)."""

from __future__ import annotations

from typing import Any

from hosts import cronjobs, services


def run_cronjob(job: str, account: str | None = None) -> Any:
    """Entry point of every cronjob schedule: runs the registered job under its lock."""
    return cronjobs.run_cronjob(job, account=account)


def purge_log_entries(days: int | None = None) -> int:
    """Scheduled daily by a migration: deletes run log entries older than HOSTS_LOG_RETENTION_DAYS."""
    return services.purge_log_entries(days)


cronjobs.register_cronjob("Purge old log entries", purge_log_entries)
