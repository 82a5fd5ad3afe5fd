"""Kernel admin: the read-only mixin every app may use, API tokens (never shown again), each user's TOTP devices,
and django-q2's Schedule admin with the task allow-list (`func` is picked from the registered tasks)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_q.admin import ScheduleAdmin as DjangoQScheduleAdmin
from django_q.models import Schedule

from syncsite import schedules, tokens
from syncsite.models import ApiToken


class ReadOnlyAdminMixin:
    """For records the app writes itself (run logs, observed daemon state, issued tokens): view and delete only.

    Mix it into a ModelAdmin or an inline before the Django base class. Deleting stays as the base class
    decides (purging logs, revoking tokens); set `can_delete = False` on an inline to forbid it there.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ApiTokenAddForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["user", "label", "expires", "agent"]

    def clean_expires(self):
        expires = self.cleaned_data.get("expires")
        if expires is not None and expires <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are stored hashed: a new token is shown once, in a message, then only its prefix."""

    list_display = ["label", "prefix", "user", "created", "expires", "last_used", "revoked", "agent"]
    list_filter = ["agent", "revoked", "expires", "label"]
    search_fields = ["label", "prefix", "user__username"]
    autocomplete_fields = ["user"]
    actions = ["revoke_selected"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("user")
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiTokenAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            # Staff with the add permission make tokens for themselves; superusers choose the user and agent.
            return ["user", "label", "expires", "agent"] if request.user.is_superuser else ["label", "expires"]
        return ["user", "label", "prefix", "created", "expires", "last_used", "revoked", "agent"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        readonly = ["user", "prefix", "created", "last_used", "revoked"]  # revoking is final: the action does it
        return readonly if request.user.is_superuser else [*readonly, "expires", "agent"]

    def save_model(self, request, obj: ApiToken, form, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        if not request.user.is_superuser:
            obj.user, obj.agent = request.user, False
        raw = tokens.set_new_secret(obj)
        super().save_model(request, obj, form, change)
        messages.warning(request, f"The new token is {raw} — copy it now: it is stored hashed and never shown again.")

    @admin.action(description="Revoke the selected tokens")
    def revoke_selected(self, request, queryset) -> None:
        count = tokens.revoke(queryset)
        self.message_user(request, f"Revoked {count} token(s).")


if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)


@admin.register(TOTPDevice)
class OwnTOTPDeviceAdmin(TOTPDeviceAdmin):
    """Two-factor sign-in: every staff user manages their own TOTP devices; superusers manage everyone's."""

    def _is_staff(self, request) -> bool:
        return request.user.is_active and request.user.is_staff

    def _may_touch(self, request, obj) -> bool:
        if not self._is_staff(request):
            return False
        return obj is None or request.user.is_superuser or obj.user_id == request.user.pk

    def has_module_permission(self, request) -> bool:
        return self._is_staff(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may_touch(request, obj)

    def has_add_permission(self, request) -> bool:
        return self._is_staff(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may_touch(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may_touch(request, obj)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(user=request.user)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return readonly if request.user.is_superuser else [*readonly, "user"]

    def save_model(self, request, obj: TOTPDevice, form, change: bool) -> None:
        if not request.user.is_superuser:
            obj.user = request.user
        super().save_model(request, obj, form, change)
        if not change and obj.user_id == request.user.pk and obj.confirmed:
            # The enrolling session counts as verified, so it can still open the QR code to scan it.
            otp_login(request, obj)


class ScheduleForm(forms.ModelForm):
    """A schedule names a registered task; its arguments are checked against what the task declares."""

    func = forms.ChoiceField(choices=(), help_text="Only registered tasks can be scheduled.")

    class Meta:
        model = Schedule
        fields = schedules.EDITABLE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [(path, f"{task.label} ({path})") for path, task in schedules.registered_tasks().items()]
        current = self.instance.func if self.instance.pk else ""
        if current and current not in schedules.registered_tasks():
            choices.append((current, f"{current} (not registered: cannot be saved)"))
        self.fields["func"].choices = choices

    def clean(self):
        cleaned = super().clean()
        try:
            schedules.validate_timing(
                cleaned.get("schedule_type"), cron=cleaned.get("cron"), minutes=cleaned.get("minutes")
            )
            if cleaned.get("func"):
                cleaned["args"], cleaned["kwargs"] = schedules.clean_schedule_call(
                    cleaned["func"], cleaned.get("args"), cleaned.get("kwargs")
                )
        except ValidationError as exc:
            self.add_error(None, exc)
        return cleaned


admin.site.unregister(Schedule)


@admin.register(Schedule)
class ScheduleAdmin(DjangoQScheduleAdmin):
    form = ScheduleForm
    fields = ScheduleForm.Meta.fields
