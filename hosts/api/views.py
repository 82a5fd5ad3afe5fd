"""REST API of the host inventory under /api/v1/: hosts, accounts, rules, logs, cronjobs, Ansible inventory.

Thin views: parsing and status codes here, every write in hosts.services.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hosts import services
from hosts.api import serializers as s
from hosts.filters import CronjobRunFilter, HostFilter, LogEntryFilter
from hosts.models import Account, CronjobRun, Host, LogEntry
from syncsite.permissions import StaffOnlyWrites

HOSTNAME_IN_URL = r"[^/]+"


class ReadAuthenticatedWriteModelPermission(permissions.DjangoModelPermissions):
    """Any token may read; writing needs the model's add/change/delete permission (superusers have all)."""

    perms_map = {
        **permissions.DjangoModelPermissions.perms_map,
        "GET": [],
        "HEAD": [],
        "OPTIONS": [],
    }


def _result(result: Any) -> dict[str, Any]:
    return {
        "created": result.created,
        "updated": result.updated,
        "unchanged": result.unchanged,
        "skipped": result.skipped,
        "errors": result.errors,
        "stale": result.stale,
        "deleted": result.deleted,
        "messages": result.messages,
    }


class HostViewSet(viewsets.ReadOnlyModelViewSet):
    """Hosts by hostname. Writes name an account; a host locked or owned by a master account answers 403."""

    queryset = Host.objects.with_seen().select_related("account").order_by("hostname")
    serializer_class = s.HostSerializer
    filterset_class = HostFilter
    permission_classes = [ReadAuthenticatedWriteModelPermission]
    lookup_field = "hostname"
    lookup_value_regex = HOSTNAME_IN_URL
    search_fields = ["hostname"]
    ordering_fields = ["hostname", "created", "last_import_seen", "last_import_sync"]

    def get_serializer_class(self):
        return s.HostDetailSerializer if self.action == "retrieve" else s.HostSerializer

    def get_object(self) -> Host:
        host = services.get_host_or_404(self.kwargs["hostname"])
        self.check_object_permissions(self.request, host)
        return host

    def _upsert(self, hostname: str, data: dict[str, Any]) -> Response:
        host, created, _ = services.upsert_host(data["account"], hostname, data["labels"])
        body = s.HostDetailSerializer(Host.objects.with_seen().select_related("account").get(pk=host.pk)).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(request=s.HostWriteSerializer, responses={200: s.HostDetailSerializer, 201: s.HostDetailSerializer})
    def create(self, request: Request) -> Response:
        """Create or update a host's labels for an account (`hostname` in the body)."""
        payload = s.HostWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        if not payload.validated_data.get("hostname"):
            raise ValidationError({"hostname": "This field is required."})
        return self._upsert(payload.validated_data["hostname"], payload.validated_data)

    @extend_schema(request=s.HostWriteSerializer, responses={200: s.HostDetailSerializer, 201: s.HostDetailSerializer})
    def update(self, request: Request, hostname: str) -> Response:
        """Create or update the labels of this host for an account (all labels are replaced)."""
        payload = s.HostWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return self._upsert(hostname, payload.validated_data)

    def destroy(self, request: Request, hostname: str) -> Response:
        services.delete_host(hostname)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.BulkHostSerializer, responses=s.ImportResultSerializer)
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        """Upsert many hosts for an account in one transaction: any invalid host or refused one, nothing written."""
        payload = s.BulkHostSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        rows = [(item["hostname"], item["labels"]) for item in data["hosts"]]
        result = services.import_rows(
            data["account"], rows, on_conflict="fail", mark_stale=data["mark_stale"], strict=True
        )
        return Response(_result(result))

    @extend_schema(request=s.InventorySerializer, responses=s.HostDetailSerializer)
    @action(detail=True, methods=["put"])
    def inventory(self, request: Request, hostname: str) -> Response:
        """Replace one inventory section of this host (`{}` as data clears it)."""
        payload = s.InventorySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        host, _ = services.update_host_inventory(
            hostname, payload.validated_data["key"], payload.validated_data["data"]
        )
        return Response(s.HostDetailSerializer(Host.objects.select_related("account").get(pk=host.pk)).data)

    @extend_schema(request=s.BulkInventorySerializer, responses=s.ImportResultSerializer)
    @action(detail=False, methods=["post"], url_path="inventory")
    def bulk_inventory(self, request: Request) -> Response:
        """Replace one inventory section of many hosts in one transaction; unknown hosts are skipped."""
        payload = s.BulkInventorySerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rows = [(item["hostname"], item["data"]) for item in payload.validated_data["hosts"]]
        result = services.import_rows(None, rows, inventory_key=payload.validated_data["key"], strict=True)
        return Response(_result(result))


class AccountViewSet(viewsets.ReadOnlyModelViewSet):
    """Accounts with their settings and custom fields; the password is never part of a response."""

    queryset = Account.objects.prefetch_related("custom_fields").order_by("name")
    serializer_class = s.AccountSerializer
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
    filterset_fields = ["type", "is_master", "enabled"]
    # not the address: searching or ordering by it would let a reader probe the credentials it may hold
    search_fields = ["name"]
    ordering_fields = ["name", "type", "is_master", "enabled", "created", "updated"]


class LogEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """The run log, newest first: `?source=csv_import`, `?errors=true` (or /logs/errors/)."""

    queryset = LogEntry.objects.order_by("-created", "-id")
    serializer_class = s.LogEntrySerializer
    filterset_class = LogEntryFilter
    search_fields = ["name", "source"]

    @extend_schema(responses=s.LogEntrySerializer(many=True))
    @action(detail=False)
    def errors(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset()).filter(has_error=True)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class RuleViewSet(viewsets.ViewSet):
    """Rules of one kind (`custom_attributes`, `rewrite`, `filter`) with their conditions and outcomes."""

    permission_classes = [StaffOnlyWrites]
    serializer_class = s.RuleSerializer
    lookup_value_regex = r"\d+"

    def _kind(self) -> str:
        return self.kwargs["kind"]

    @extend_schema(responses=s.RuleSerializer(many=True))
    def list(self, request: Request, kind: str) -> Response:
        return Response([services.rule_document(rule) for rule in services.rule_queryset(kind)])

    @extend_schema(responses=s.RuleSerializer)
    def retrieve(self, request: Request, kind: str, pk: str) -> Response:
        rule = services.get_rule(kind, pk)
        return Response(services.rule_document(rule))

    @extend_schema(request=s.RuleSerializer, responses={201: s.RuleSerializer})
    def create(self, request: Request, kind: str) -> Response:
        services.rule_queryset(kind)
        payload = s.RuleSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        rule = services.save_rule(kind, {**payload.validated_data})
        return Response(services.rule_document(services.rule_queryset(kind).get(pk=rule.pk)), status=201)

    @extend_schema(request=s.RuleSerializer, responses=s.RuleSerializer)
    def update(self, request: Request, kind: str, pk: str) -> Response:
        rule = services.get_rule(kind, pk)
        payload = s.RuleSerializer(data=request.data, partial=request.method == "PATCH")
        payload.is_valid(raise_exception=True)
        services.save_rule(kind, {**payload.validated_data}, rule=rule)
        return Response(services.rule_document(services.rule_queryset(kind).get(pk=rule.pk)))

    def partial_update(self, request: Request, kind: str, pk: str) -> Response:
        return self.update(request, kind, pk)


class RulesDocumentView(APIView):
    """All rules as one JSON document (GET) or loaded from one (POST, `?replace=true` drops the others first)."""

    permission_classes = [StaffOnlyWrites]

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(services.export_rules())

    @extend_schema(
        request=OpenApiTypes.OBJECT,
        parameters=[OpenApiParameter("replace", bool, description="delete existing rules of the given kinds first")],
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request) -> Response:
        replace = str(request.query_params.get("replace", "")).lower() in {"1", "true", "yes"}
        counts = services.import_rules(request.data, replace=replace)
        return Response({"imported": counts})


class CronjobView(APIView):
    """Registered cronjobs with their last run (GET) and "run now" (POST {"job", "account"}: queued, 202)."""

    permission_classes = [StaffOnlyWrites]

    @extend_schema(responses=s.CronjobSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(s.CronjobSerializer(services.cronjob_status(), many=True).data)

    @extend_schema(
        request=s.RunCronjobSerializer,
        responses={
            202: inline_serializer("CronjobQueued", {"job": serializers.CharField(), "task": serializers.CharField()})
        },
    )
    def post(self, request: Request) -> Response:
        payload = s.RunCronjobSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        job, account = payload.validated_data["job"], payload.validated_data["account"] or None
        try:
            task = services.queue_cronjob(job, account)
        except LookupError as exc:
            raise ValidationError({"job": str(exc)}) from exc
        return Response({"job": job, "task": task}, status=status.HTTP_202_ACCEPTED)


class CronjobRunViewSet(viewsets.ReadOnlyModelViewSet):
    """Recorded cronjob runs, newest first, with their log and traceback."""

    queryset = CronjobRun.objects.order_by("-started", "-id")
    serializer_class = s.CronjobRunSerializer
    filterset_class = CronjobRunFilter
