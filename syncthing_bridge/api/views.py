"""REST views of syncthing_bridge: instances (admin writes), mirrored devices and folders, daemon actions.

The services raise the app's domain errors (syncthing_bridge.errors: a misconfigured instance 409, a failing
daemon 502); the kernel's exception handler answers them, so these views build no error responses.
"""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from syncsite.permissions import StaffOnlyWrites
from syncsite.redact import redact_urls_in_text
from syncthing_bridge import services
from syncthing_bridge.api import serializers
from syncthing_bridge.client import SyncthingError
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


class FleetFailed(APIException):
    """A daemon failed during a fleet action: 502 with every instance's report (what the others changed)."""

    status_code = 502
    default_detail = "A Syncthing daemon could not complete the change."

    def __init__(self, detail: str, reports: list[dict]):
        super().__init__(detail)
        self.detail = {"detail": detail, "reports": reports}


def _fleet_call(func, *args, **kwargs) -> Response:
    """Run a fleet action: a failing daemon 502 (with the reports when the action ran on several instances and only
    some failed). Bad input (FleetInputError, 400) and a misconfigured instance (409) are domain errors: the
    kernel's handler answers them."""
    try:
        result = func(*args, **kwargs)
    except services.SyncthingBridgeError:
        raise
    except SyncthingError as exc:
        raise services.DaemonError(redact_urls_in_text(str(exc))) from exc
    reports = services.reports_as_dicts(result if isinstance(result, list) else [result])
    for report in reports:
        report["error"] = redact_urls_in_text(report["error"])
    failed = [r["instance"] for r in reports if r["status"] == "failed"]
    if failed:
        raise FleetFailed(f"failed on {', '.join(failed)}", reports)
    return Response({"reports": reports})


def _argument(serializer_class, request) -> dict:
    arg = serializer_class(data=request.data)
    arg.is_valid(raise_exception=True)
    return arg.validated_data


FLEET_RESPONSES = {
    200: serializers.FleetResultSerializer,
    409: serializers.DaemonErrorSerializer,
    502: serializers.FleetFailureSerializer,
}


def _fleet_schema(argument, summary: str):
    return extend_schema(request=argument, responses=FLEET_RESPONSES, summary=summary)


class FleetViewSet(viewsets.ViewSet):
    """Fleet actions: change several daemons' configuration at once (staff only); each answers per-instance reports."""

    permission_classes = [StaffOnlyWrites]

    @_fleet_schema(serializers.PairArgument, "Pair two instances (each added to the other's config)")
    @action(detail=False, methods=["post"])
    def pair(self, request):
        arg = _argument(serializers.PairArgument, request)
        return _fleet_call(services.pair_instances, arg["first"], arg["second"])

    @_fleet_schema(serializers.AcceptDeviceArgument, "Accept a pending device on an instance")
    @action(detail=False, methods=["post"], url_path="accept-device")
    def accept_device(self, request):
        arg = _argument(serializers.AcceptDeviceArgument, request)
        return _fleet_call(services.accept_device, arg["instance"], arg["device"], arg["name"], arg["addresses"])

    @_fleet_schema(serializers.AcceptFolderArgument, "Accept a pending folder offer on an instance")
    @action(detail=False, methods=["post"], url_path="accept-folder")
    def accept_folder(self, request):
        arg = _argument(serializers.AcceptFolderArgument, request)
        return _fleet_call(services.accept_folder, arg["instance"], arg["folder"], arg["device"], arg["path"])

    @_fleet_schema(serializers.ShareArgument, "Share a folder across instances, creating it where missing")
    @action(detail=False, methods=["post"])
    def share(self, request):
        arg = _argument(serializers.ShareArgument, request)
        return _fleet_call(
            services.share_folder, arg["folder"], arg["paths"], arg["type"], arg.get("versioning"), arg["label"]
        )

    @_fleet_schema(serializers.UnshareArgument, "Remove a folder from instances (needs confirm=true)")
    @action(detail=False, methods=["post"])
    def unshare(self, request):
        arg = _argument(serializers.UnshareArgument, request)
        return _fleet_call(services.unshare_folder, arg["folder"], arg["instances"], confirm=arg["confirm"])

    @_fleet_schema(serializers.IgnoresArgument, "Set a folder's ignore patterns (.stignore) everywhere")
    @action(detail=False, methods=["post"])
    def ignores(self, request):
        arg = _argument(serializers.IgnoresArgument, request)
        return _fleet_call(services.set_ignores, arg["folder"], arg["patterns"], arg.get("instances"))

    @_fleet_schema(serializers.FolderVersioningArgument, "Set a folder's file versioning everywhere")
    @action(detail=False, methods=["post"])
    def versioning(self, request):
        arg = _argument(serializers.FolderVersioningArgument, request)
        return _fleet_call(services.set_versioning, arg["folder"], dict(arg["versioning"]), arg.get("instances"))

    @_fleet_schema(serializers.FleetFolderArgument, "Override changes on send-only copies of a folder")
    @action(detail=False, methods=["post"])
    def override(self, request):
        arg = _argument(serializers.FleetFolderArgument, request)
        return _fleet_call(services.override_folder, arg["folder"], arg.get("instances"))

    @_fleet_schema(serializers.FleetFolderArgument, "Revert local changes on receive-only copies of a folder")
    @action(detail=False, methods=["post"])
    def revert(self, request):
        arg = _argument(serializers.FleetFolderArgument, request)
        return _fleet_call(services.revert_folder, arg["folder"], arg.get("instances"))

    @_fleet_schema(serializers.FleetFolderArgument, "Pause a folder")
    @action(detail=False, methods=["post"], url_path="pause-folder")
    def pause_folder(self, request):
        arg = _argument(serializers.FleetFolderArgument, request)
        return _fleet_call(services.set_folder_paused, arg["folder"], True, arg.get("instances"))

    @_fleet_schema(serializers.FleetFolderArgument, "Resume a folder")
    @action(detail=False, methods=["post"], url_path="resume-folder")
    def resume_folder(self, request):
        arg = _argument(serializers.FleetFolderArgument, request)
        return _fleet_call(services.set_folder_paused, arg["folder"], False, arg.get("instances"))

    @_fleet_schema(serializers.FleetDeviceArgument, "Pause a device (in the config of each instance)")
    @action(detail=False, methods=["post"], url_path="pause-device")
    def pause_device(self, request):
        arg = _argument(serializers.FleetDeviceArgument, request)
        return _fleet_call(services.set_device_paused, arg["device"], True, _or_all(arg.get("instances")))

    @_fleet_schema(serializers.FleetDeviceArgument, "Resume a device (in the config of each instance)")
    @action(detail=False, methods=["post"], url_path="resume-device")
    def resume_device(self, request):
        arg = _argument(serializers.FleetDeviceArgument, request)
        return _fleet_call(services.set_device_paused, arg["device"], False, _or_all(arg.get("instances")))


def _or_all(instances):
    return instances if instances is not None else services.enabled_instances()
