"""Site-wide pages: the dashboard, the health check, and JSON-aware error pages."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.defaults import page_not_found
from django.views.defaults import permission_denied as default_permission_denied
from django_q.models import Failure, Schedule

import syncsite
from syncsite import dashboard

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    since = timezone.now() - timedelta(days=1)
    cards, sections = dashboard.collect()
    context = {
        "cards": cards,
        "sections": sections,
        "schedule_count": Schedule.objects.count(),
        "failed_count": Failure.objects.filter(stopped__gte=since).count(),
        "recent_failures": Failure.objects.order_by("-stopped")[:10],
        "site": site_settings_summary(),
        "base_template": live_base(request),
    }
    return render(request, "syncsite/home.html", context)


def live_base(request: HttpRequest) -> str:
    """The page's content alone (`?fragment=1`, what the page's live refresh fetches), or the whole page."""
    return "syncsite/fragment.html" if request.GET.get("fragment") == "1" else "base.html"


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness plus a real round trip to the database, for load balancers and monitors."""
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        logger.warning("health check: database unavailable: %s", exc)
        return JsonResponse(
            {"status": "error", "database": "unavailable", "version": syncsite.__version__},
            status=503,
        )
    return JsonResponse(
        {
            "status": "ok",
            "database": connection.vendor,
            "database_ms": round((time.perf_counter() - started) * 1000, 2),
            "version": syncsite.__version__,
        }
    )


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, the task broker and a queue worker heartbeat (kept in the database)."""
    from syncsite import ops

    ok, checks = ops.readiness()
    return JsonResponse({"status": "ok" if ok else "unavailable", **checks}, status=200 if ok else 503)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403 in the site's layout for people, {"detail": ...} for API clients."""
    if _wants_json(request):
        return JsonResponse({"detail": str(exception or "") or "You may not do this."}, status=403)
    return default_permission_denied(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """500 in the site's layout, rendered without a request context (the error may come from a context processor)."""
    if _wants_json(request):
        return JsonResponse({"detail": "Internal server error."}, status=500)
    try:
        body = loader.get_template("500.html").render()
    except Exception:  # a broken template must not hide the original error behind another one
        logger.exception("the 500 page could not be rendered")
        body = "<h1>Server error</h1><p>The error was logged.</p>"
    return HttpResponse(body, status=500, content_type="text/html")


def site_settings_summary() -> dict:
    """What the dashboard footer shows about how this instance runs (never secrets)."""
    return {
        "database": connection.vendor,
        "broker": "redis" if settings.REDIS_URL else "database",
        "version": syncsite.__version__,
    }
