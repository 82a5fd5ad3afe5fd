"""REST views of syncthing_bridge: instances (admin writes), mirrored devices and folders, daemon actions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from syncthing_bridge import services
from syncthing_bridge.api import serializers
from syncthing_bridge.client import SyncthingError
from syncthing_bridge.models import SyncthingDevice, SyncthingFolder, SyncthingInstance


class DaemonError(APIException):
    """The daemon answered with an error or could not be reached: the gateway's fault, not the client's."""

    status_code = 502
    default_detail = "The Syncthing daemon could not complete the request."


class ReadAnyWriteAdmin(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


def _daemon_call(func, *args):
    try:
        return func(*args)
    except SyncthingError as exc:
        raise DaemonError(str(exc)) from exc


class SyncthingInstanceViewSet(viewsets.ModelViewSet):
    queryset = SyncthingInstance.objects.all().order_by("name")
    serializer_class = serializers.SyncthingInstanceSerializer
    permission_classes = [ReadAnyWriteAdmin]
    filterset_fields = ["enabled", "reachable", "site", "name"]
    search_fields = ["name", "url", "site"]

    def perform_destroy(self, instance):
        services.delete_instance(instance)

    @extend_schema(request=None, responses={200: dict, 502: serializers.DaemonErrorSerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        return Response(_daemon_call(services.test_connection, self.get_object()))

    @extend_schema(
        request=None, responses={200: serializers.SyncthingInstanceSerializer, 502: serializers.DaemonErrorSerializer}
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        instance = self.get_object()
        if not services.refresh_instance(instance):
            raise DaemonError(instance.last_error)
        instance.refresh_from_db()
        return Response(self.get_serializer(instance).data)

    @extend_schema(request=serializers.FolderArgument, responses={200: dict, 502: serializers.DaemonErrorSerializer})
    @action(detail=True, methods=["post"])
    def rescan(self, request, pk=None):
        arg = serializers.FolderArgument(data=request.data)
        arg.is_valid(raise_exception=True)
        _daemon_call(services.rescan_folder, self.get_object(), arg.validated_data["folder"])
        return Response({"detail": "rescan requested"})

    @extend_schema(request=serializers.DeviceArgument, responses={200: dict, 502: serializers.DaemonErrorSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        arg = serializers.DeviceArgument(data=request.data)
        arg.is_valid(raise_exception=True)
        _daemon_call(services.pause_device, self.get_object(), arg.validated_data["device"])
        return Response({"detail": "paused"})

    @extend_schema(request=serializers.DeviceArgument, responses={200: dict, 502: serializers.DaemonErrorSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        arg = serializers.DeviceArgument(data=request.data)
        arg.is_valid(raise_exception=True)
        _daemon_call(services.resume_device, self.get_object(), arg.validated_data["device"])
        return Response({"detail": "resumed"})


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
