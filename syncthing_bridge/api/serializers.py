"""Serializers of the syncthing_bridge API. The API key is write-only; writes go through services."""

from __future__ import annotations

from rest_framework import serializers

from syncthing_bridge import services
from syncthing_bridge.models import FolderCompletion, SyncthingDevice, SyncthingFolder, SyncthingInstance


class SyncthingInstanceSerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(write_only=True, required=False, allow_blank=False, trim_whitespace=True)

    class Meta:
        model = SyncthingInstance
        fields = [
            "id",
            "name",
            "url",
            "api_key",
            "ca_certificate",
            "site",
            "enabled",
            "timeout",
            *SyncthingInstance.OBSERVED_FIELDS,
        ]
        read_only_fields = SyncthingInstance.OBSERVED_FIELDS

    def validate(self, attrs):
        if self.instance is None and not attrs.get("api_key"):
            raise serializers.ValidationError({"api_key": "The daemon's API key is required."})
        return attrs

    def create(self, validated_data):
        return services.create_instance(**validated_data)

    def update(self, instance, validated_data):
        return services.update_instance(instance, **validated_data)


class SyncthingDeviceSerializer(serializers.ModelSerializer):
    instance = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = SyncthingDevice
        fields = [
            "id",
            "instance",
            "device_id",
            "name",
            "is_self",
            "connected",
            "paused",
            "address",
            "client_version",
            "last_seen",
        ]


class FolderCompletionSerializer(serializers.ModelSerializer):
    class Meta:
        model = FolderCompletion
        fields = ["device_id", "device_name", "completion", "need_bytes", "need_items"]


class SyncthingFolderSerializer(serializers.ModelSerializer):
    instance = serializers.SlugRelatedField(slug_field="name", read_only=True)
    completions = FolderCompletionSerializer(many=True, read_only=True)

    class Meta:
        model = SyncthingFolder
        fields = [
            "id",
            "instance",
            "folder_id",
            *SyncthingFolder.MIRRORED_FIELDS,
            "completions",
        ]


class DaemonErrorSerializer(serializers.Serializer):
    """502: the daemon answered with an error or could not be reached."""

    detail = serializers.CharField()


class FolderArgument(serializers.Serializer):
    folder = serializers.CharField()


class DeviceArgument(serializers.Serializer):
    device = serializers.CharField()
