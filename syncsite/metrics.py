"""Prometheus metrics: requests and database queries of this process, plus the site's own state at scrape time.

`/metrics` answers only with `Authorization: Bearer <METRICS_TOKEN>` (404 without the setting, 401/403
otherwise). Request and query counters are per process (each gunicorn worker has its own; Prometheus sums
the series it scrapes through the load balancer over time, see docs/operations.md); the site's gauges are
read from the database at each scrape, so every process answers them alike.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db.backends.signals import connection_created
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

REQUESTS = Counter(
    "syncsite_http_requests",
    "HTTP requests answered, by method and status class.",
    ["method", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "syncsite_http_request_duration_seconds",
    "Time to answer a request.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
QUERIES = Counter("syncsite_db_queries", "Database queries run, by vendor.", ["vendor"], registry=REGISTRY)
QUERY_ERRORS = Counter("syncsite_db_query_errors", "Database queries that raised.", ["vendor"], registry=REGISTRY)
QUERY_TIME = Counter("syncsite_db_query_seconds", "Time spent in database queries.", ["vendor"], registry=REGISTRY)


class RequestMetricsMiddleware:
    """Counts every answer by method and status class, and its duration."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        LATENCY.observe(time.perf_counter() - started)
        method = request.method if request.method in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"} else "other"
        REQUESTS.labels(method=method, status=f"{response.status_code // 100}xx").inc()
        return response


def _count_queries(execute, sql, params, many, context):
    vendor = context["connection"].vendor
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    except Exception:
        QUERY_ERRORS.labels(vendor=vendor).inc()
        raise
    finally:
        QUERIES.labels(vendor=vendor).inc()
        QUERY_TIME.labels(vendor=vendor).inc(time.perf_counter() - started)


def _instrument(sender, connection, **kwargs) -> None:
    if _count_queries not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count_queries)


connection_created.connect(_instrument, dispatch_uid="syncsite.metrics.queries")


class SiteCollector:
    """The site's own state, read at scrape time: hosts, queue and errors per site, runs, Syncthing, heartbeats."""

    def describe(self) -> list:
        return []  # nothing is read at registration (import time): only when scraped

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from django_q.models import Success

        from notifications.models import Incident
        from syncsite import dashboard, heartbeats
        from syncthing_bridge.models import SyncthingFolder, SyncthingInstance
        from tracker import services as tracker

        cards = GaugeMetricFamily("syncsite_dashboard_count", "The dashboard's counts, by card.", labels=["card"])
        hosts_total = GaugeMetricFamily("syncsite_hosts", "Hosts in the inventory (the hosts card).")
        for card in dashboard.collect_cards():
            if isinstance(card.get("count"), int):
                cards.add_metric([card["key"]], card["count"])
                if card["key"] == "hosts":
                    hosts_total.add_metric([], card["count"])
        yield cards
        yield hosts_total

        queue = GaugeMetricFamily("syncsite_tracker_queue", "Files waiting to be copied, per site.", labels=["site"])
        errors = GaugeMetricFamily("syncsite_tracker_errors", "Files in error, per site.", labels=["site"])
        report = GaugeMetricFamily(
            "syncsite_agent_last_report_timestamp_seconds", "When a site's agent last reported.", labels=["site"]
        )
        for row in tracker.site_health():
            queue.add_metric([row["site"]], row["queue"])
            errors.add_metric([row["site"]], row["errors"])
            if row["last_report_ms"] is not None:
                report.add_metric([row["site"]], row["last_report_ms"] / 1000)
        yield queue
        yield errors
        yield report

        jobs = GaugeMetricFamily(
            "syncsite_job_last_success_timestamp_seconds", "Last successful run of each task.", labels=["func"]
        )
        from django.db.models import Max

        for row in Success.objects.values("func").annotate(last=Max("stopped")):
            jobs.add_metric([row["func"]], row["last"].timestamp())
        yield jobs

        from django.apps import apps

        cronjob_run = apps.get_model("hosts", "CronjobRun")
        cronjobs = GaugeMetricFamily(
            "syncsite_cronjob_last_success_timestamp_seconds", "Last successful run of each cronjob.", labels=["job"]
        )
        rows = cronjob_run.objects.filter(status=cronjob_run.SUCCESS).values("job").annotate(last=Max("started"))
        for row in rows:
            cronjobs.add_metric([row["job"]], row["last"].timestamp())
        yield cronjobs
        pulls = GaugeMetricFamily(
            "syncsite_pull_last_success_timestamp_seconds", "Last successful replication pull, per URL.", labels=["url"]
        )
        from syncsite.redact import redact_url

        sync_state = apps.get_model("synctools", "SyncState")
        for url, last in sync_state.objects.filter(last_success_at__isnull=False).values_list("url", "last_success_at"):
            pulls.add_metric([redact_url(url)], last.timestamp())
        yield pulls

        beats = GaugeMetricFamily(
            "syncsite_heartbeat_timestamp_seconds", "Last heartbeat (agents, workers, checks).", labels=["key", "ok"]
        )
        for beat in heartbeats.all_beats():
            beats.add_metric([beat.key, str(beat.ok).lower()], beat.last_seen.timestamp())
        yield beats

        up = GaugeMetricFamily("syncsite_syncthing_up", "Whether a Syncthing instance answered.", labels=["instance"])
        for instance in SyncthingInstance.objects.filter(enabled=True).only("name", "reachable"):
            up.add_metric([instance.name], 1 if instance.reachable else 0)
        yield up
        completion = GaugeMetricFamily(
            "syncsite_syncthing_completion_percent", "Local completion of a folder.", labels=["instance", "folder"]
        )
        for folder in SyncthingFolder.objects.select_related("instance").only(
            "folder_id", "completion", "instance__name"
        ):
            completion.add_metric([folder.instance.name, folder.folder_id], folder.completion)
        yield completion

        incidents = GaugeMetricFamily("syncsite_open_incidents", "Open incidents, by event kind.", labels=["kind"])
        from django.db.models import Count

        for row in Incident.objects.filter(resolved__isnull=True).values("kind").annotate(n=Count("id")):
            incidents.add_metric([row["kind"]], row["n"])
        yield incidents


REGISTRY.register(SiteCollector())


def _authorized(request: HttpRequest) -> bool:
    token = getattr(settings, "METRICS_TOKEN", "")
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header.lower().startswith("bearer ") else ""
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition, for a scraper holding METRICS_TOKEN."""
    if not getattr(settings, "METRICS_TOKEN", ""):
        return JsonResponse({"detail": "Not found."}, status=404)
    if not _authorized(request):
        response = JsonResponse({"detail": "A valid metrics token is required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
