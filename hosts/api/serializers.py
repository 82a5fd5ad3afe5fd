"""Serializers of the hosts REST API. Account passwords and secret custom fields are never part of any of them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from hosts.models import Account, CronjobRun, Host, LogEntry
from syncsite.redact import redact_url, scrub


class HostSerializer(serializers.ModelSerializer):
    account = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    last_import_seen = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Host
        fields = [
            "id",
            "hostname",
            "account",
            "labels",
            "inventory",
            "is_object",
            "object_type",
            "locked",
            "disabled",
            "stale",
            "last_import_seen",
            "last_import_sync",
            "created",
        ]
        read_only_fields = fields


class HostDetailSerializer(HostSerializer):
    class Meta(HostSerializer.Meta):
        fields = [*HostSerializer.Meta.fields, "log"]
        read_only_fields = fields


class HostWriteSerializer(serializers.Serializer):
    """One host's labels, written for an account (the account must be allowed to own the host)."""

    hostname = serializers.CharField(max_length=255, required=False)
    account = serializers.CharField(max_length=200)
    labels = serializers.DictField(child=serializers.JSONField(), allow_empty=True)


class BulkHostItemSerializer(serializers.Serializer):
    hostname = serializers.CharField(max_length=255)
    labels = serializers.DictField(child=serializers.JSONField(), allow_empty=True, default=dict)


class BulkHostSerializer(serializers.Serializer):
    account = serializers.CharField(max_length=200)
    hosts = BulkHostItemSerializer(many=True, allow_empty=False)
    mark_stale = serializers.BooleanField(
        default=False, help_text="the list is the account's whole inventory: mark the hosts not in it stale"
    )


class InventorySerializer(serializers.Serializer):
    key = serializers.RegexField(r"^(?!.*__)[\w.\-]+$", max_length=200, help_text="inventory section, no '__'")
    data = serializers.DictField(child=serializers.JSONField(), allow_empty=True)


class BulkInventoryItemSerializer(serializers.Serializer):
    hostname = serializers.CharField(max_length=255)
    data = serializers.DictField(child=serializers.JSONField(), allow_empty=True)


class BulkInventorySerializer(serializers.Serializer):
    key = serializers.RegexField(r"^(?!.*__)[\w.\-]+$", max_length=200)
    hosts = BulkInventoryItemSerializer(many=True, allow_empty=False)


class ImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped = serializers.IntegerField()
    errors = serializers.IntegerField()
    stale = serializers.IntegerField()
    deleted = serializers.IntegerField()
    messages = serializers.ListField(child=serializers.CharField())


class CustomFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    secret = serializers.BooleanField(help_text="declared secret: stored encrypted, its value never shown")
    is_set = serializers.BooleanField(help_text="whether the field has a value")
    value = serializers.CharField(allow_null=True, help_text="null for a secret field")


class AccountSerializer(serializers.ModelSerializer):
    custom_fields = serializers.SerializerMethodField()
    address = serializers.SerializerMethodField(help_text="without user info; credential parameters masked")
    parent = serializers.CharField(
        source="parent.name", read_only=True, allow_null=True, help_text="the account this one inherits from"
    )

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "type",
            "address",
            "username",
            "is_master",
            "enabled",
            "verify_ssl",
            "request_timeout",
            "parent",
            "custom_fields",
            "created",
            "updated",
        ]
        read_only_fields = fields

    @extend_schema_field(CustomFieldSerializer(many=True))
    def get_custom_fields(self, account: Account) -> list[dict[str, Any]]:
        from hosts.services import shown_fields

        return shown_fields(account)

    def get_address(self, account: Account) -> str:
        return redact_url(account.address)


class LogEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = LogEntry
        fields = ["id", "source", "name", "details", "has_error", "duration", "created"]
        read_only_fields = fields

    def to_representation(self, entry: LogEntry) -> dict[str, Any]:
        """Entries are scrubbed when written; URLs in older ones lose their credentials here too."""
        data = super().to_representation(entry)
        data["details"] = scrub(data["details"])
        return data


class CronjobRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = CronjobRun
        fields = ["id", "job", "account", "status", "started", "ended", "log", "traceback"]
        read_only_fields = fields

    def to_representation(self, run: CronjobRun) -> dict[str, Any]:
        data = super().to_representation(run)
        data["log"], data["traceback"] = scrub(data["log"]), scrub(data["traceback"])
        return data


class CronjobSerializer(serializers.Serializer):
    name = serializers.CharField()
    running = serializers.BooleanField()
    last_run = CronjobRunSerializer(allow_null=True)


class RunCronjobSerializer(serializers.Serializer):
    job = serializers.CharField()
    account = serializers.CharField(required=False, allow_blank=True, default="")


class RuleSerializer(serializers.Serializer):
    """A rule with its conditions and outcomes, as in the rules export document."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    enabled = serializers.BooleanField(default=True)
    sort_order = serializers.IntegerField(default=0)
    last_match = serializers.BooleanField(default=False)
    condition_type = serializers.ChoiceField(choices=["all", "any", "anyway"], default="all")
    conditions = serializers.ListField(child=serializers.DictField(), default=list)
    outcomes = serializers.ListField(child=serializers.DictField(), default=list)

    def to_representation(self, rule: Any) -> dict[str, Any]:
        from hosts.services import rule_document

        return rule_document(rule)
