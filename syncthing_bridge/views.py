"""The /syncthing/ page: instances, their devices, folders and completion (read from the mirrored state)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from syncthing_bridge import services


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "syncthing_bridge/index.html", {"instances": services.overview()})
