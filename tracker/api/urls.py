"""REST endpoints of tracker, mounted by syncsite.urls under /api/v1/tracker/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from tracker.api import views

router = DefaultRouter()
router.register("nodes", views.NodeViewSet, basename="tracker-node")

urlpatterns = [
    path("sites/", views.SiteView.as_view(), name="tracker-sites"),
    path("", include(router.urls)),
]
