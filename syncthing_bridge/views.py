"""The /syncthing/ page: instances, devices, folders, completion, errors, conflicts and pending offers.

The page polls `state/` (the same tables as a fragment) to refresh in place; staff accept pending offers with a
POST (CSRF-checked) that goes through the fleet actions.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from syncsite.redact import hide_urls_in_text, redact_urls_in_text
from syncthing_bridge import services
from syncthing_bridge.client import SyncthingError
from syncthing_bridge.models import SyncthingInstance


def _instances(request: HttpRequest) -> list[SyncthingInstance]:
    """Staff see each instance's URL (without credentials); others see no URL, not even inside error texts."""
    instances = services.overview()
    if not request.user.is_staff:
        for instance in instances:
            instance.last_error = hide_urls_in_text(instance.last_error)
            instance.listener_error = hide_urls_in_text(instance.listener_error)
    return instances


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "syncthing_bridge/index.html", {"instances": _instances(request)})


@login_required
def state(request: HttpRequest) -> HttpResponse:
    """The instances' tables alone, for the page to poll."""
    return render(request, "syncthing_bridge/_state.html", {"instances": _instances(request)})


def _accept(request: HttpRequest, accept) -> HttpResponse:
    try:
        report = accept()
    except services.FleetInputError as exc:
        messages.error(request, str(exc))
    except SyncthingError as exc:
        messages.error(request, redact_urls_in_text(str(exc)))
    else:
        if report.error:
            messages.error(request, f"{report.instance}: {redact_urls_in_text(report.error)}")
        else:
            messages.success(request, f"{report.instance}: {'; '.join(report.changes) or 'unchanged'}")
    return redirect("syncthing:index")


@require_POST
@staff_member_required
def accept_device(request: HttpRequest, pk: int) -> HttpResponse:
    instance = get_object_or_404(SyncthingInstance, pk=pk)
    device = request.POST.get("device", "")[:72]
    return _accept(request, lambda: services.accept_device(instance, device))


@require_POST
@staff_member_required
def accept_folder(request: HttpRequest, pk: int) -> HttpResponse:
    instance = get_object_or_404(SyncthingInstance, pk=pk)
    folder, device = request.POST.get("folder", "")[:200], request.POST.get("device", "")[:72]
    path = request.POST.get("path", "")[:4000]
    return _accept(request, lambda: services.accept_folder(instance, folder, device, path))
