"""Admin helpers every app may use (kernel: imports no app; registers no model)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """For records the app writes itself (run logs, observed daemon state, issued tokens): view and delete only.

    Mix it into a ModelAdmin or an inline before the Django base class. Deleting stays as the base class
    decides (purging logs, revoking tokens); set `can_delete = False` on an inline to forbid it there.
    """

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
