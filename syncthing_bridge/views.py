"""The /syncthing/ page: instances, their devices, folders and completion (read from the mirrored state)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from syncsite.redact import hide_urls_in_text
from syncthing_bridge import services


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """Staff see each instance's URL (without credentials); others see no URL, not even inside error texts."""
    instances = services.overview()
    if not request.user.is_staff:
        for instance in instances:
            instance.last_error = hide_urls_in_text(instance.last_error)
            instance.listener_error = hide_urls_in_text(instance.listener_error)
    return render(request, "syncthing_bridge/index.html", {"instances": instances})
