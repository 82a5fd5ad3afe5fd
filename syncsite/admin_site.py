"""The admin site: password sign-in, plus a TOTP code for staff who turned two-factor sign-in on.

django-otp's OTPAdminSite asks every user for a code; here only users with a confirmed device are
asked (all staff when `ADMIN_REQUIRE_2FA` is on), so turning it on is each staff member's choice.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django_otp import devices_for_user, user_has_device
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


def needs_second_factor(user) -> bool:
    """Whether `user` must give a TOTP code to use the admin."""
    return bool(getattr(settings, "ADMIN_REQUIRE_2FA", False)) or user_has_device(user, confirmed=True)


class AdminLoginForm(OTPAdminAuthenticationForm):
    """Password, then a code only for users who need one; with a single device, no need to pick it."""

    def clean_otp(self, user) -> None:
        if user is None or not needs_second_factor(user):
            return
        super().clean_otp(user)

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                device = devices[0]
        return device


class SyncsiteAdminSite(admin.AdminSite):
    """The default admin site (`admin.site`), with optional TOTP two-factor sign-in."""

    login_form = AdminLoginForm
    login_template = OTPAdminSite.login_template
    site_header = "Syncsite administration"
    site_title = "Syncsite admin"
    index_title = "Syncsite"

    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        return request.user.is_verified() or not needs_second_factor(request.user)
