"""Routes of the hosts REST API (included by hosts/api/urls.py under /api/v1/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from hosts.api import views

router = SimpleRouter()
router.register("hosts", views.HostViewSet, basename="host")
router.register("accounts", views.AccountViewSet, basename="account")
router.register("logs", views.LogEntryViewSet, basename="logentry")
router.register("cronjob-runs", views.CronjobRunViewSet, basename="cronjobrun")
router.register(r"rules/(?P<kind>custom_attributes|rewrite|filter)", views.RuleViewSet, basename="rule")

urlpatterns = [
    path("rules/export/", views.RulesDocumentView.as_view(), name="rules-export"),
    path("rules/import/", views.RulesDocumentView.as_view(), name="rules-import"),
    path("cronjobs/", views.CronjobView.as_view(), name="cronjobs"),
    *router.urls,
]
