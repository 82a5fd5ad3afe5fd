"""URL map. Order matters: `/api/v1/` (DRF) comes before the tracker's damas-compatible `/api/*` routes."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from syncsite import api, metrics, ops, views
from synctools import conf as synctools_conf


def sync_urlpatterns() -> list:
    """Syncsite's own data for a second site (syncsite.sync_routes), mounted only when SYNCTOOL_API_TOKEN is set.

    Without a token the routes are not even imported, so nothing is served and no change is recorded.
    """
    if not synctools_conf.api_token():
        return []
    from syncsite.sync_routes import route

    return route.urlpatterns


ops.add_audit_history(admin.site)  # the audited models' admin pages link to their audit log

router = DefaultRouter()
router.register("schedules", api.ScheduleViewSet, basename="schedule")

api_v1 = [
    path("me/", api.MeView.as_view(), name="api-me"),
    path("", include("hosts.api.urls")),
    path("tracker/", include("tracker.api.urls")),
    path("syncthing/", include("syncthing_bridge.api.urls")),
    path("synctools/", include("synctools.api.urls")),
    path("", include(router.urls)),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("api/v1/", include(api_v1)),
    path("api/", include("tracker.api.damas_urls")),
    path("hosts/", include("hosts.urls")),
    path("tracker/", include("tracker.urls")),
    path("syncthing/", include("syncthing_bridge.urls")),
    path("sync/", include(sync_urlpatterns())),
]

handler403 = "syncsite.views.permission_denied"
handler404 = "syncsite.views.not_found"
handler500 = "syncsite.views.server_error"
