"""Sync routes of Syncsite's own data (hosts, tracker) under /sync/, served only when SYNCTOOL_API_TOKEN is set."""

from synctools import conf

urlpatterns: list = []

if conf.api_token():
    from synctools.site_routes import route

    urlpatterns = route.urlpatterns
