"""Admin pages of this app: instances (API key write-only) with actions, the mirrored state read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from syncsite.admin import ReadOnlyAdminMixin
from syncsite.forms import SecretFieldMixin
from syncthing_bridge import services
from syncthing_bridge.admin_fleet import FleetActions
from syncthing_bridge.client import SyncthingError
from syncthing_bridge.models import (
    FolderCompletion,
    SyncthingDevice,
    SyncthingFolder,
    SyncthingInstance,
    VolumeMapping,
)


class SyncthingInstanceForm(SecretFieldMixin, forms.ModelForm):
    secret_fields = ("api_key",)
    url = forms.URLField(
        assume_scheme="http", help_text=SyncthingInstance._meta.get_field("url").help_text, label="URL"
    )

    class Meta:
        model = SyncthingInstance
        fields = ["name", "url", "api_key", "ca_certificate", "site", "syncthing_only", "enabled", "timeout"]

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("api_key"):
            unreadable = self.instance.pk and self.instance.api_key_unreadable
            self.add_error(
                "api_key",
                "The stored key is unreadable: re-enter it." if unreadable else "The daemon's API key is required.",
            )
        previous = self.instance.site if self.instance.pk is not None else None
        try:
            services.check_site(cleaned.get("site") or "", bool(cleaned.get("syncthing_only")), previous)
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


class VolumeMappingInline(admin.TabularInline):
    model = VolumeMapping
    extra = 0


class DeviceInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SyncthingDevice
    extra = 0
    can_delete = False
    fields = ["name", "device_id", "connected", "paused", "address", "client_version", "last_seen"]
    readonly_fields = fields


class FolderInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = SyncthingFolder
    extra = 0
    can_delete = False
    fields = ["folder_id", "label", "state", "need_bytes", "need_items", "pull_errors", "error"]
    readonly_fields = fields


class ActionForm(admin.helpers.ActionForm):
    argument = forms.CharField(
        required=False,
        label="Folder or device id",
        help_text="for rescan folder / pause / resume device and the fleet actions",
    )


@admin.register(SyncthingInstance)
class SyncthingInstanceAdmin(FleetActions, admin.ModelAdmin):
    form = SyncthingInstanceForm
    action_form = ActionForm
    list_display = [
        "name",
        "address",
        "site",
        "enabled",
        "reachable",
        "key",
        "version",
        "last_refresh",
        "last_event_id",
    ]
    list_filter = ["enabled", "reachable"]
    search_fields = ["name", "url", "site", "device_id"]
    readonly_fields = SyncthingInstance.OBSERVED_FIELDS
    inlines = [VolumeMappingInline, DeviceInline, FolderInline]
    actions = [
        "test_connection",
        "refresh_state",
        "rescan_folder",
        "pause_device",
        "resume_device",
        "restart",
        *FleetActions.actions,
    ]

    @admin.display(description="URL", ordering="url")
    def address(self, obj: SyncthingInstance) -> str:
        return obj.shown_url

    @admin.display(description="API key")
    def key(self, obj: SyncthingInstance) -> str:
        return "unreadable, re-enter it" if obj.api_key_unreadable else "stored"

    def _each(self, request, queryset, func, done: str) -> None:
        for instance in queryset:
            try:
                result = func(instance)
            except SyncthingError as exc:
                self.message_user(request, f"{instance.name}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{instance.name}: {done}{result or ''}", messages.SUCCESS)

    def _argument(self, request) -> str:
        value = (request.POST.get("argument") or "").strip()
        if not value:
            self.message_user(request, "Give the folder or device id in the box next to the action.", messages.ERROR)
        return value

    @admin.action(description="Test connection")
    def test_connection(self, request, queryset):
        def run(instance):
            info = services.test_connection(instance)
            return f" ({info['version']}, device {info['device_id'][:7]})"

        self._each(request, queryset, run, "connected")

    @admin.action(description="Refresh devices and folders")
    def refresh_state(self, request, queryset):
        for instance in queryset:
            if services.refresh_instance(instance):
                self.message_user(request, f"{instance.name}: refreshed", messages.SUCCESS)
            else:
                self.message_user(request, f"{instance.name}: {instance.last_error}", messages.ERROR)

    @admin.action(description="Rescan folder (id in the box)")
    def rescan_folder(self, request, queryset):
        if folder := self._argument(request):
            self._each(request, queryset, lambda i: services.rescan_folder(i, folder), f"rescan of {folder} requested")

    @admin.action(description="Pause device (id in the box)")
    def pause_device(self, request, queryset):
        if device := self._argument(request):
            self._each(request, queryset, lambda i: services.pause_device(i, device), f"{device[:7]} paused")

    @admin.action(description="Resume device (id in the box)")
    def resume_device(self, request, queryset):
        if device := self._argument(request):
            self._each(request, queryset, lambda i: services.resume_device(i, device), f"{device[:7]} resumed")

    @admin.action(description="Restart Syncthing")
    def restart(self, request, queryset):
        self._each(request, queryset, services.restart, "restart requested")

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)


@admin.register(SyncthingDevice)
class SyncthingDeviceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["instance", "name", "device_id", "is_self", "connected", "paused", "client_version", "last_seen"]
    list_filter = ["connected", "paused", "instance"]
    list_select_related = ["instance"]


@admin.register(SyncthingFolder)
class SyncthingFolderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["instance", "folder_id", "label", "state", "need_bytes", "need_items", "pull_errors"]
    list_filter = ["state", "instance"]
    list_select_related = ["instance"]


@admin.register(FolderCompletion)
class FolderCompletionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["folder", "device_name", "device_id", "completion", "need_bytes"]
    list_select_related = ["folder__instance"]
