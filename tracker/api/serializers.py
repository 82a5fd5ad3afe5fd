"""Serializers of the tracker's REST views (read-only)."""

from __future__ import annotations

from rest_framework import serializers

from tracker import permissions, services
from tracker.models import Node


class NodeSerializer(serializers.ModelSerializer):
    """A node; `data` leaves out the keys the requesting user may not read (tracker.permissions)."""

    _id = serializers.CharField(source="node_id", read_only=True)
    parent = serializers.CharField(read_only=True, allow_null=True, help_text="#parent")
    data = serializers.JSONField(read_only=True, help_text="Every key of the node except _id.")

    class Meta:
        model = Node
        fields = ["id", "_id", "kind", "parent", "origin", "time", "sync_priority", "deleted", "data"]
        read_only_fields = fields

    def to_representation(self, instance: Node) -> dict:
        out = super().to_representation(instance)
        request = self.context.get("request")
        if "actor" not in self.context:
            self.context["actor"] = services.actor_for(request.user) if request is not None else None
        kind = permissions.kind_of(instance.node_id, instance.kind)
        out["data"] = permissions.redact(self.context["actor"], out["data"], kind)
        return out


class SiteSerializer(serializers.Serializer):
    name = serializers.CharField()
    _id = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    agentStatus = serializers.CharField(allow_blank=True, required=False)
    pending = serializers.IntegerField(help_text="Files this site still has to receive.")
