"""REST views of syncthing_bridge: instances (admin writes), mirrored devices and folders, daemon actions.

The services raise the app's domain errors (syncthing_bridge.errors: a misconfigured instance 409, a failing
daemon 502); the kernel's exception handler answers them, so these views build no error responses.
"""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from syncsite.permissions import StaffOnlyWrites
from syncthing_bridge import services
from syncthing_bridge.api import serializers
from syncthing_bridge.models import SyncthingDevice, SyncthingFolder, SyncthingInstance


class SyncthingInstanceViewSet(viewsets.ModelViewSet):
    queryset = SyncthingInstance.objects.all().order_by("name")
    serializer_class = serializers.SyncthingInstanceSerializer
    permission_classes = [StaffOnlyWrites]
    filterset_fields = ["enabled", "reachable", "site", "name"]
    # not the URL: only staff may see it, and searching or ordering by it would reveal it to anyone
    search_fields = ["name", "site"]
    ordering_fields = ["name", "site", "enabled", "reachable", "version", "last_refresh"]

    def perform_destroy(self, instance):
        services.delete_instance(instance)

    @extend_schema(request=None, responses={200: dict, 502: serializers.DaemonErrorSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        return Response(services.daemon_action(services.test_connection, self.get_object()))

    @extend_schema(
        request=None, responses={200: serializers.SyncthingInstanceSerializer, 502: serializers.DaemonErrorSerializer}
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        instance = services.usable(self.get_object())
        if not services.refresh_instance(instance):
            raise services.DaemonError(instance.last_error)
        instance.refresh_from_db()
        return Response(self.get_serializer(instance).data)

    @extend_schema(request=serializers.FolderArgument, responses={200: dict, 502: serializers.DaemonErrorSerializer})
    @action(detail=True, methods=["post"])
    def rescan(self, request, pk=None):
        return self._act(request, serializers.FolderArgument, "folder", services.rescan_folder, "rescan requested")

    @extend_schema(request=serializers.DeviceArgument, responses={200: dict, 502: serializers.DaemonErrorSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._act(request, serializers.DeviceArgument, "device", services.pause_device, "paused")

    @extend_schema(request=serializers.DeviceArgument, responses={200: dict, 502: serializers.DaemonErrorSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._act(request, serializers.DeviceArgument, "device", services.resume_device, "resumed")

    def _act(self, request, argument: type[Serializer], key: str, func: Callable, done: str) -> Response:
        """Validate the one argument, run the daemon action on this instance, answer `{"detail": done}`."""
        arg = argument(data=request.data)
        arg.is_valid(raise_exception=True)
        services.daemon_action(func, self.get_object(), arg.validated_data[key])
        return Response({"detail": done})


class SyncthingDeviceViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SyncthingDevice.objects.select_related("instance").order_by("instance__name", "name")
    serializer_class = serializers.SyncthingDeviceSerializer
    filterset_fields = ["instance", "connected", "paused", "device_id"]


class SyncthingFolderViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = (
        SyncthingFolder.objects.select_related("instance")
        .prefetch_related("completions")
        .order_by("instance__name", "folder_id")
    )
    serializer_class = serializers.SyncthingFolderSerializer
    filterset_fields = ["instance", "state", "folder_id"]
