"""Admin pages of this app: pull state and history, read-only (pulls write them)."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from synctools.models import SyncRun, SyncState


@admin.register(SyncState)
class SyncStateAdmin(admin.ModelAdmin):
    list_display = ["url", "last_outcome", "last_run_at", "last_success_at", "last_rows", "last_deleted", "history"]
    list_filter = ["last_outcome"]
    search_fields = ["url"]
    readonly_fields = [
        "url",
        "cursor",
        "last_run_at",
        "last_success_at",
        "last_outcome",
        "last_error",
        "last_rows",
        "last_deleted",
        "last_duration",
        "history",
    ]

    @admin.display(description="runs")
    def history(self, obj: SyncState) -> str:
        url = reverse("admin:synctools_syncrun_changelist") + f"?state__id__exact={obj.pk}"
        return format_html('<a href="{}">history</a>', url)

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["state", "started_at", "outcome", "incremental", "rows", "deleted", "files", "duration"]
    list_filter = ["outcome", "incremental", "state"]
    search_fields = ["state__url", "error"]
    list_select_related = ["state"]
    date_hierarchy = "started_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
