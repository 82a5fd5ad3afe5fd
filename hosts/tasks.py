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


def report_stale_hosts(limit: int = 50) -> dict[str, Any]:
    """The stale-host report: per account, the hosts its last import no longer saw, as one run log entry."""
    from django.db.models import Count

    from hosts.models import Host, LogEntry

    per_account = {
        row["account__name"] or "(no account)": row["n"]
        for row in Host.objects.filter(stale=True).values("account__name").annotate(n=Count("id")).order_by()
    }
    names = list(Host.objects.filter(stale=True).order_by("hostname").values_list("hostname", flat=True)[:limit])
    details: list[list[Any]] = [[f"stale in {account}", n] for account, n in sorted(per_account.items())]
    if names:
        details.append(["hosts", ", ".join(names) + (" …" if sum(per_account.values()) > len(names) else "")])
    LogEntry.objects.create(source="report", name="stale hosts", details=details or [["stale", 0]])
    return {"stale": sum(per_account.values()), "per_account": per_account}
