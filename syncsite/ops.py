"""Site wiring for operations: the health check task, the default schedules, replication events, the
dashboard's "needs attention" section and the readiness probe.

It knows every app (site wiring) and asks each one through its door; synctools, which knows only Django,
is watched here: a failed pull run raises `replication.pull_failed` (synctools itself raises no event).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models.signals import post_save
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from syncsite import events, heartbeats
from syncsite.schedules import MINUTES, register_task

logger = logging.getLogger(__name__)

PULL_FAILED = "replication.pull_failed"

# name -> (func, minutes between runs, kwargs): created once by `manage.py ensure_schedules` (make run).
DEFAULT_SCHEDULES = {
    "Syncthing refresh": ("syncthing_bridge.tasks.refresh_all", 1, None),
    "Health checks and notification digests": ("syncsite.ops.check", 5, None),
    "Log purge": ("hosts.tasks.purge_log_entries", 24 * 60, None),
    "Stale-host report": ("hosts.tasks.report_stale_hosts", 24 * 60, None),
    "Change log prune": ("syncsite.ops.prune_change_logs", 24 * 60, None),
    "Tracker state sweep": ("tracker.tasks.sweep_orphan_states", 24 * 60, None),
}

DEFAULT_CHANGE_RETENTION_DAYS = 7


class PruneChangeLogsArguments(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=36_500, required=False, allow_null=True)


def register() -> None:
    """Called from SyncsiteConfig.ready(): the schedulable check, the replication event and its receiver."""
    register_task("syncsite.ops.check", label="Operations: health checks, notification digests")
    register_task("syncsite.ops.prune_change_logs", label="Prune the change logs", arguments=PruneChangeLogsArguments)
    events.declare(PULL_FAILED, "Replication: a pull failed")
    run_model = apps.get_model("synctools", "SyncRun")
    post_save.connect(_pull_finished, sender=run_model, dispatch_uid="syncsite.ops.pull_finished")
    register_audit()


# app_label.Model -> fields never written to the audit log (secrets: encrypted values, hashes, digests).
AUDITED = {
    "tracker.Volume": [],
    "tracker.GlobalParameters": [],
    "notifications.Rule": [],
    "notifications.Channel": ["secret"],
    "hosts.Account": ["password"],
    "hosts.AccountCustomField": ["secret_value"],
    "django_q.Schedule": ["next_run", "task"],  # the scheduler moves these on every run
    "syncthing_bridge.SyncthingInstance": ["api_key", "api_key_unreadable"],
    "syncsite.ApiToken": ["digest", "last_used"],
    "auth.User": ["password", "last_login"],
}


def register_audit() -> None:
    """Put the models people configure under django-auditlog (who changed what, when), secrets left out."""
    from auditlog.registry import auditlog

    for label, secret_fields in AUDITED.items():
        model = apps.get_model(label)
        names = {field.name for field in model._meta.get_fields()}
        # what a model records it observed (a daemon's reachability, event ids ...) is state, not anyone's change
        excluded = [*secret_fields, *getattr(model, "OBSERVED_FIELDS", ())]
        if not auditlog.contains(model):
            auditlog.register(model, exclude_fields=[name for name in excluded if name in names])


def add_audit_history(site) -> None:
    """Give each audited model's admin the audit log history page and an "Audit log" column.

    Called by the URL conf once the admin is filled: the apps' admin classes stay as they are; a subclass
    with django-auditlog's history mixin replaces each registration.
    """
    from auditlog.mixins import AuditlogHistoryAdminMixin

    for label in AUDITED:
        model = apps.get_model(label)
        admin_class = type(site._registry[model]) if model in site._registry else None
        if admin_class is None or issubclass(admin_class, AuditlogHistoryAdminMixin):
            continue
        audited = type(
            admin_class.__name__,
            (AuditlogHistoryAdminMixin, admin_class),
            {"show_auditlog_history_link": True, "__module__": admin_class.__module__},
        )
        site.unregister(model)
        site.register(model, audited)


def _pull_finished(sender, instance, raw: bool = False, **kwargs) -> None:
    if raw or not instance.finished_at:
        return
    url = getattr(getattr(instance, "state", None), "url", "") or ""
    if instance.outcome == sender.SUCCESS:
        events.resolve(PULL_FAILED, url, title=f"replication pull works again: {url}")
    elif instance.outcome == sender.FAILED:
        events.emit(
            PULL_FAILED,
            url,
            f"replication pull failed: {url}",
            lines=[instance.error] if instance.error else [],
            url="/admin/synctools/syncrun/",
        )


def check() -> dict:
    """The scheduled health check: tracker agents and errors, Syncthing state, held-back digests."""
    from notifications import services as notifications
    from syncthing_bridge import alerts
    from tracker import services as tracker

    result = {"tracker": tracker.check_health(), "syncthing": alerts.check()}
    result["digests"] = notifications.flush()
    heartbeats.beat("task:syncsite.ops.check", summary=str(result)[:1000])
    return result


def prune_change_logs(days: int | None = None) -> dict:
    """Keep the change logs (the trigger-written one and synctools' signal records) to their retention.

    Without it they grow with every write forever. A replica or feed reader whose cursor is older than the
    retention is told to start from a full copy (HTTP 410 / `full pull needed`), never silently skips changes.
    """
    from syncsite import changes
    from synctools import services as synctools

    keep = timedelta(days=days or getattr(settings, "SYNCSITE_CHANGE_RETENTION_DAYS", DEFAULT_CHANGE_RETENTION_DAYS))
    result = {"change_log": changes.prune(keep), "synctools": synctools.prune_changes(keep)}
    heartbeats.beat("task:syncsite.ops.prune_change_logs", summary=str(result))
    return result


def ensure_default_schedules() -> list[str]:
    """Create the default schedules that do not exist yet (by name); returns the names created.

    Idempotent: a schedule of the same name or running the same function (the log purge a migration made)
    is left alone, however the admin changed it.
    """
    from django_q.models import Schedule

    created = []
    for name, (func, minutes, kwargs) in DEFAULT_SCHEDULES.items():
        if Schedule.objects.filter(name=name).exists() or Schedule.objects.filter(func=func).exists():
            continue
        Schedule.objects.create(
            name=name,
            func=func,
            kwargs=repr(kwargs) if kwargs else None,
            schedule_type=MINUTES,
            minutes=minutes,
            repeats=-1,
            next_run=timezone.now() + timedelta(seconds=30),
        )
        created.append(name)
    return created


# --------------------------------------------------------------------------- dashboard: needs attention


def attention() -> dict:
    """What needs attention, with links: sites with errors, stale agents, failed runs, unreachable instances."""
    from django_q.models import Failure

    from syncthing_bridge import alerts
    from tracker import services as tracker

    since = timezone.now() - timedelta(days=1)
    health = tracker.site_health()
    stale = {row["site"] for row in tracker.stale_agents()}
    sites = [
        {"site": row["site"], "errors": row["errors"], "url": f"{reverse('tracker:index')}?site={row['site']}"}
        for row in health
        if row["errors"]
    ]
    agents = [
        {"site": row["site"], "last": _ms_text(row["last_report_ms"]), "url": reverse("tracker:index")}
        for row in health
        if row["site"] in stale
    ]
    failures = [
        {
            "name": f.name,
            "func": f.func,
            "when": f.stopped,
            "url": reverse("admin:django_q_failure_change", args=[f.pk]),
        }
        for f in Failure.objects.filter(stopped__gte=since).order_by("-stopped")[:10]
    ]
    failed_runs = _failed_runs(since)
    instances = [
        {"name": i.name, "error": i.last_error, "url": reverse("syncthing:index")}
        for i in alerts.unreachable_instances()
    ]
    return {
        "sites": sites,
        "agents": agents,
        "failures": failures,
        "failed_runs": failed_runs,
        "instances": instances,
        "count": len(sites) + len(agents) + len(failures) + len(failed_runs) + len(instances),
    }


def _failed_runs(since) -> list[dict]:
    """Failed import/export/cronjob runs and replication pulls of the last 24 h (newest first, at most 10 each)."""
    rows = []
    cronjob_run = apps.get_model("hosts", "CronjobRun")
    for run in cronjob_run.objects.filter(status=cronjob_run.FAILED, started__gte=since).order_by("-started")[:10]:
        rows.append({"name": f"cronjob {run.job}", "when": run.started, "url": f"/admin/hosts/cronjobrun/{run.pk}/"})
    log_entry = apps.get_model("hosts", "LogEntry")
    for entry in log_entry.objects.filter(has_error=True, created__gte=since).order_by("-created")[:10]:
        rows.append(
            {
                "name": f"{entry.source}: {entry.name}",
                "when": entry.created,
                "url": f"/admin/hosts/logentry/{entry.pk}/",
            }
        )
    sync_run = apps.get_model("synctools", "SyncRun")
    for run in (
        sync_run.objects.filter(finished_at__gte=since, outcome=sync_run.FAILED)
        .select_related("state")
        .order_by("-finished_at")[:10]
    ):
        rows.append({"name": f"pull {run.state.url}", "when": run.finished_at, "url": "/admin/synctools/syncrun/"})
    return rows


def _ms_text(value: object) -> str:
    from datetime import UTC, datetime

    if not isinstance(value, int | float):
        return "never"
    return datetime.fromtimestamp(value / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def dashboard_sections() -> list[dict]:
    return [{"template": "syncsite/attention.html", "data": attention()}]


# --------------------------------------------------------------------------- readiness


def readiness() -> tuple[bool, dict]:
    """The database answers, the broker answers, a queue worker beat recently (in the database)."""
    checks: dict = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except DatabaseError as exc:
        logger.warning("readyz: database: %s", exc)
        return False, {"database": "unavailable"}
    checks["broker"] = _broker_state()
    ok = ok and checks["broker"] == "ok"
    window = timedelta(seconds=getattr(settings, "READYZ_WORKER_SECONDS", 120))
    workers = heartbeats.fresh("worker:", window)
    checks["workers"] = len(workers)
    if not workers:
        checks["worker"] = f"no queue worker heartbeat within {int(window.total_seconds())} s"
        ok = False
    return ok, checks


def _broker_state() -> str:
    if settings.REDIS_URL:
        try:
            import redis

            redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2).ping()
        except Exception as exc:  # any failure to reach the broker means not ready
            logger.warning("readyz: broker: %s", exc)
            return "unavailable"
        return "ok"
    try:  # the ORM broker is the database's django_q_ormq table
        from django_q.models import OrmQ

        OrmQ.objects.exists()
    except DatabaseError:
        return "unavailable"
    return "ok"
