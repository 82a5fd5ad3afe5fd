"""Serializers of the tracker's REST views (read-only)."""

from __future__ import annotations

from rest_framework import serializers

from tracker.models import Node


class NodeSerializer(serializers.ModelSerializer):
    _id = serializers.CharField(source="node_id", read_only=True)
    parent = serializers.CharField(read_only=True, allow_null=True, help_text="#parent")
    data = serializers.JSONField(read_only=True, help_text="Every key of the node except _id.")

    class Meta:
        model = Node
        fields = ["id", "_id", "kind", "parent", "origin", "time", "sync_priority", "deleted", "data"]
        read_only_fields = fields


class SiteSerializer(serializers.Serializer):
    name = serializers.CharField()
    _id = serializers.CharField()
    url = serializers.CharField(allow_blank=True)
    agentStatus = serializers.CharField(allow_blank=True, required=False)
    pending = serializers.IntegerField(help_text="Files this site still has to receive.")
