"""Read-only REST views of the tracker under /api/v1/tracker/ (the damas routes live in damas.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from syncsite.auth import BearerTokenAuthentication
from tracker import permissions, services
from tracker.api.serializers import NodeSerializer, SiteSerializer
from tracker.filters import NodeFilter
from tracker.models import NodeKind

AUTHENTICATION = [BearerTokenAuthentication, SessionAuthentication]


class NodeViewSet(viewsets.ReadOnlyModelViewSet):
    """Nodes with filters (`?prefix=/project/shots/&kind=file`) and limit/offset pagination."""

    serializer_class = NodeSerializer
    filterset_class = NodeFilter
    authentication_classes = AUTHENTICATION
    ordering_fields = ["node_id", "time", "sync_priority"]
    ordering = ["node_id"]
    search_fields = ["node_id"]

    def get_queryset(self):
        return services.visible_nodes(services.actor_for(self.request.user)).order_by("node_id")


class SiteView(APIView):
    """Every site (volume) with how many files it still has to receive (guests see no url)."""

    authentication_classes = AUTHENTICATION

    @extend_schema(responses=SiteSerializer(many=True))
    def get(self, request):
        actor = services.actor_for(request.user)
        rows = [
            {**row, "url": "" if "url" in permissions.hidden_keys(actor, NodeKind.VOLUME) else row["url"]}
            for row in services.sites_overview()
        ]
        return Response(SiteSerializer(rows, many=True).data)
