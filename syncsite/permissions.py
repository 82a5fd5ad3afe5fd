"""DRF permissions every app's API may use (kernel: imports no app)."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class StaffOnlyWrites(permissions.BasePermission):
    """Any authenticated user may read; only staff may write (rules, cronjobs, daemon actions change what runs)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or bool(request.user.is_staff)
