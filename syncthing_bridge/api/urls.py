"""REST endpoints of syncthing_bridge, mounted by syncsite.urls under /api/v1/syncthing/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from syncthing_bridge.api import views

router = DefaultRouter()
router.register("instances", views.SyncthingInstanceViewSet, basename="syncthing-instance")
router.register("devices", views.SyncthingDeviceViewSet, basename="syncthing-device")
router.register("folders", views.SyncthingFolderViewSet, basename="syncthing-folder")
router.register("fleet", views.FleetViewSet, basename="syncthing-fleet")

urlpatterns = [path("", include(router.urls))]
