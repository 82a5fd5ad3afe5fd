"""REST views of syncthing_bridge: instances (admin writes), mirrored devices and folders, daemon actions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from syncsite.permissions import StaffOnlyWrites
from syncsite.redact import redact_urls_in_text
from syncthing_bridge import services
from syncthing_bridge.api import serializers
from syncthing_bridge.client import SyncthingError
from syncthing_bridge.models import SyncthingDevice, SyncthingFolder, SyncthingInstance


class DaemonError(APIException):
    """The daemon answered with an error or could not be reached: the gateway's fault, not the client's."""

    status_code = 502
    default_detail = "The Syncthing daemon could not complete the request."


class MisconfiguredInstance(APIException):
    """The stored instance cannot be used as it is (e.g. a zero timeout): fix it, then try again."""

    status_code = 409
    default_detail = "The Syncthing instance is misconfigured."


def _usable(instance: SyncthingInstance) -> SyncthingInstance:
    problems = instance.configuration_problems()
    if problems:
        raise MisconfiguredInstance(f"Syncthing instance {instance.name!r} is misconfigured: {'; '.join(problems)}")
    return instance


def _daemon_call(func, instance: SyncthingInstance, *args):
    _usable(instance)
    try:
        return func(instance, *args)
    except services.InstanceConfigError as exc:
        raise MisconfiguredInstance(str(exc)) from exc
    except SyncthingError as exc:
        raise DaemonError(redact_urls_in_text(str(exc))) from exc


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
        return Response(_daemon_call(services.test_connection, self.get_object()))

    @extend_schema(
        request=None, responses={200: serializers.SyncthingInstanceSerializer, 502: serializers.DaemonErrorSerializer}
    )
    @action(detail=True, methods=["post"])
    def refresh(self, request, pk=None):
        instance = _usable(self.get_object())
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
