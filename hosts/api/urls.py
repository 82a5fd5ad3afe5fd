"""REST endpoints of hosts, mounted by syncsite.urls under /api/v1/.

Plugins add theirs through syncerapi.v1.rest.API (a live list included here).
"""

from django.urls import include, path

from hosts.api.registry import API

urlpatterns: list = [
    path("", include("hosts.api.routes")),
    path("", include(API.urlpatterns)),
]
