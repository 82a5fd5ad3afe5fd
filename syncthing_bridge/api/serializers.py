"""Serializers of the syncthing_bridge API. The API key is write-only; writes go through services.

An instance's URL is shown to staff only (without credentials); other readers get `null`, and URLs inside its
error texts are hidden from them too.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from syncsite.redact import hide_urls_in_text, redact_url, redact_urls_in_text
from syncthing_bridge import services
from syncthing_bridge.models import (
    FolderCompletion,
    SyncthingDevice,
    SyncthingFolder,
    SyncthingInstance,
    validate_api_key,
    validate_timeout,
)

ERROR_TEXTS = ("last_error", "listener_error")


def _django_validator(validator):
    """A model validator as a DRF validator (its message becomes the field's 400 message)."""

    def validate(value: Any) -> None:
        try:
            validator(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    return validate


class SyncthingInstanceSerializer(serializers.ModelSerializer):
    api_key = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=False,
        trim_whitespace=False,
        max_length=200,
        validators=[_django_validator(validate_api_key)],
        help_text="printable Latin-1 without white space; write-only",
    )
    url = serializers.URLField(max_length=200, allow_null=True, help_text="null unless the reader is staff")
    timeout = serializers.FloatField(
        required=False, validators=[_django_validator(validate_timeout)], help_text="seconds, more than 0, at most 300"
    )
    api_key_readable = serializers.SerializerMethodField(
        help_text="false when the stored key cannot be decrypted (the encryption key changed): re-enter it"
    )

    class Meta:
        model = SyncthingInstance
        fields = [
            "id",
            "name",
            "url",
            "api_key",
            "ca_certificate",
            "site",
            "syncthing_only",
            "enabled",
            "timeout",
            "api_key_readable",
            *SyncthingInstance.OBSERVED_FIELDS,
        ]
        read_only_fields = SyncthingInstance.OBSERVED_FIELDS

    def get_api_key_readable(self, instance: SyncthingInstance) -> bool:
        return not instance.api_key_unreadable

    def validate_url(self, value: str | None) -> str:
        if value is None:
            raise serializers.ValidationError("This field may not be null.")
        return value

    def validate(self, attrs):
        if self.instance is None and not attrs.get("api_key"):
            raise serializers.ValidationError({"api_key": "The daemon's API key is required."})
        return attrs

    def create(self, validated_data):
        return self._saved(services.create_instance, **validated_data)

    def update(self, instance, validated_data):
        return self._saved(services.update_instance, instance, **validated_data)

    @staticmethod
    def _saved(write, *args: Any, **fields: Any) -> SyncthingInstance:
        try:
            return write(*args, **fields)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from exc

    def to_representation(self, instance: SyncthingInstance) -> dict[str, Any]:
        data = super().to_representation(instance)
        staff = _is_staff(self)
        data["url"] = redact_url(instance.url) if staff else None
        hide = redact_urls_in_text if staff else hide_urls_in_text
        for name in ERROR_TEXTS:
            if data.get(name):
                data[name] = hide(data[name])
        return data


def _is_staff(serializer: serializers.Serializer) -> bool:
    request = serializer.context.get("request")
    return bool(request and request.user and request.user.is_staff)


class SyncthingDeviceSerializer(serializers.ModelSerializer):
    instance = serializers.SlugRelatedField(slug_field="name", read_only=True)
    address = serializers.CharField(read_only=True, allow_null=True, help_text="null unless the reader is staff")

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

    def to_representation(self, device: SyncthingDevice) -> dict[str, Any]:
        """A peer's network address is shown to staff only, like the instances' URLs."""
        data = super().to_representation(device)
        data["address"] = redact_url(device.address) if _is_staff(self) else None
        return data


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


# --------------------------------------------------------------------------------------------- fleet actions


class InstanceNameField(serializers.SlugRelatedField):
    """An instance by name; a value no name can be (not text, too long, a NUL byte) is "no such instance" before
    any query (PostgreSQL refuses NUL in text)."""

    def to_internal_value(self, data: Any) -> SyncthingInstance:
        if not _possible_name(data):
            self.fail("does_not_exist", slug_name=self.slug_field, value=str(data)[:100])
        return super().to_internal_value(data)


def _possible_name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 100 and "\x00" not in value


def _instance_field(**kwargs: Any) -> InstanceNameField:
    return InstanceNameField(slug_field="name", queryset=SyncthingInstance.objects.all(), **kwargs)


def _instances_field() -> serializers.ListField:
    return serializers.ListField(
        child=_instance_field(),
        required=False,
        max_length=200,
        help_text="instance names; default: every enabled instance that has the folder or device",
    )


def _at_most(count: int):
    """A validator that bounds a mapping's size (DictField has no max_length)."""

    def validate(value: dict) -> None:
        if len(value) > count:
            raise serializers.ValidationError(f"at most {count} entries")

    return validate


FOLDER_ID = {"max_length": 200, "help_text": "the Syncthing folder id"}
DEVICE_ID = {"max_length": 72, "help_text": "a Syncthing device id"}


class VersioningArgument(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=["", "simple", "staggered", "trashcan", "external"], allow_blank=True, help_text='"" turns it off'
    )
    params = serializers.DictField(
        child=serializers.CharField(max_length=1000, allow_blank=True), required=False, validators=[_at_most(50)]
    )


class PairArgument(serializers.Serializer):
    first = _instance_field()
    second = _instance_field()


class AcceptDeviceArgument(serializers.Serializer):
    instance = _instance_field()
    device = serializers.CharField(**DEVICE_ID)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    addresses = serializers.ListField(
        child=serializers.CharField(max_length=300), required=False, max_length=20, default=list
    )


class AcceptFolderArgument(serializers.Serializer):
    instance = _instance_field()
    folder = serializers.CharField(**FOLDER_ID)
    device = serializers.CharField(**DEVICE_ID)
    path = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


class ShareArgument(serializers.Serializer):
    folder = serializers.CharField(**FOLDER_ID)
    paths = serializers.DictField(
        child=serializers.CharField(max_length=4000),
        validators=[_at_most(200)],
        help_text="instance name → the folder's path on that daemon",
    )
    type = serializers.ChoiceField(
        choices=["sendreceive", "sendonly", "receiveonly"],
        required=False,
        allow_null=True,
        default=None,
        help_text="new folders: sendreceive when not given; existing folders keep their type unless it is given",
    )
    versioning = VersioningArgument(required=False)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate_paths(self, value: dict) -> dict:
        if not value:
            raise serializers.ValidationError("Give at least one instance and its path.")
        bad = sorted(repr(name)[:100] for name in value if not _possible_name(name))
        if bad:
            raise serializers.ValidationError(f"no such Syncthing instance: {', '.join(bad)}")
        found = {i.name: i for i in SyncthingInstance.objects.filter(name__in=list(value))}
        missing = sorted(set(value) - set(found))
        if missing:
            raise serializers.ValidationError(f"no such Syncthing instance: {', '.join(missing)}")
        return {found[name]: path for name, path in value.items()}


class UnshareArgument(serializers.Serializer):
    folder = serializers.CharField(**FOLDER_ID)
    instances = serializers.ListField(child=_instance_field(), min_length=1, max_length=200)
    confirm = serializers.BooleanField(default=False, help_text="must be true: the folder stops syncing there")


class IgnoresArgument(serializers.Serializer):
    folder = serializers.CharField(**FOLDER_ID)
    patterns = serializers.ListField(
        child=serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False), max_length=1000
    )
    instances = _instances_field()


class FolderVersioningArgument(serializers.Serializer):
    folder = serializers.CharField(**FOLDER_ID)
    versioning = VersioningArgument()
    instances = _instances_field()


class FleetFolderArgument(serializers.Serializer):
    folder = serializers.CharField(**FOLDER_ID)
    instances = _instances_field()


class FleetDeviceArgument(serializers.Serializer):
    device = serializers.CharField(**DEVICE_ID)
    instances = _instances_field()


class InstanceReportSerializer(serializers.Serializer):
    instance = serializers.CharField()
    status = serializers.ChoiceField(choices=["changed", "unchanged", "failed"])
    changes = serializers.ListField(child=serializers.CharField())
    error = serializers.CharField(allow_blank=True)


class FleetResultSerializer(serializers.Serializer):
    """What the action changed on each instance ("unchanged" when it was already so)."""

    reports = InstanceReportSerializer(many=True)


class FleetFailureSerializer(serializers.Serializer):
    """502: at least one daemon failed; the reports say which and what the others changed."""

    detail = serializers.CharField()
    reports = InstanceReportSerializer(many=True, required=False)
