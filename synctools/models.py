"""Models of this app; written only through services.py."""

from __future__ import annotations

from django.db import models


class ChangeRecord(models.Model):
    """One save, delete or M2M change of a routed model: what incremental pulls are built from.

    The id is the cursor: a client that last saw cursor N is sent the rows whose records have ids above N.
    """

    model = models.CharField(max_length=200, help_text="app_label.model_name")
    object_pk = models.CharField(max_length=255)
    deleted = models.BooleanField(default=False)
    natural_key = models.JSONField(null=True, blank=True, help_text="Natural key of a deleted object, if it has one")
    time = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["model", "id"], name="synctools_change_model_id")]

    def __str__(self) -> str:
        return f"{self.model}:{self.object_pk}{' (deleted)' if self.deleted else ''}"


class PruneHorizon(models.Model):
    """How far change records were pruned (one row): a cursor below `pruned_upto` may have missed changes."""

    pruned_upto = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"pruned up to {self.pruned_upto}"


class SyncState(models.Model):
    """What a client knows about one remote URL: the cursor to resume from and how the last run went."""

    url = models.URLField(max_length=1000, unique=True)
    cursor = models.CharField(max_length=100, blank=True, help_text="Cursor the remote gave on the last success")
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=20, blank=True)
    last_error = models.TextField(blank=True)
    last_rows = models.PositiveBigIntegerField(default=0)
    last_deleted = models.PositiveBigIntegerField(default=0)
    last_duration = models.FloatField(null=True, blank=True, help_text="seconds")
    adopt_by_pk = models.BooleanField(
        default=False,
        help_text="Pulled before rows were mapped to their source: the next pull takes a local row with the "
        "source's id as the same row (as pulls did then), once.",
    )

    class Meta:
        ordering = ["url"]
        verbose_name = "sync state"

    def __str__(self) -> str:
        return self.url


class SyncRun(models.Model):
    """One pull of one URL, kept as history."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    OUTCOMES = [(RUNNING, "running"), (SUCCESS, "success"), (FAILED, "failed")]

    state = models.ForeignKey(SyncState, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=OUTCOMES, default=RUNNING)
    incremental = models.BooleanField(default=False)
    cursor_before = models.CharField(max_length=100, blank=True)
    cursor_after = models.CharField(max_length=100, blank=True)
    rows = models.PositiveBigIntegerField(default=0, help_text="rows created or updated")
    deleted = models.PositiveBigIntegerField(default=0, help_text="rows deleted by tombstones or clean")
    files = models.PositiveIntegerField(default=0, help_text="files downloaded")
    duration = models.FloatField(null=True, blank=True, help_text="seconds")
    error = models.TextField(blank=True)
    # Which process runs the pull: a "running" run whose process is gone is marked failed by the next pull.
    host = models.CharField(max_length=255, blank=True, help_text="machine that ran the pull")
    pid = models.PositiveIntegerField(null=True, blank=True, help_text="process that ran the pull")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["state", "-started_at"], name="synctools_run_state_started")]

    def __str__(self) -> str:
        return f"{self.state.url} @ {self.started_at:%Y-%m-%d %H:%M:%S} ({self.outcome})"


class SyncedFile(models.Model):
    """Validator (size, ETag or Last-Modified) of a media file last downloaded, to skip unchanged files."""

    url = models.URLField(max_length=1000, unique=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    validator = models.CharField(max_length=255, blank=True)
    downloaded_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.url


class PulledRow(models.Model):
    """A local row that came from a pulled URL: its key there and its id here.

    Rows without such a record were made here (or came from elsewhere): a pull never cleans them away.
    `source_key` is the source's pk, or "nk:" + the SHA-256 of the JSON natural key when the reply sent no pk.
    """

    state = models.ForeignKey(SyncState, on_delete=models.CASCADE, related_name="pulled_rows")
    model = models.CharField(max_length=200, help_text="app_label.model_name")
    source_key = models.CharField(max_length=255)
    local_pk = models.CharField(max_length=255)
    first_run = models.BigIntegerField(help_text="the run that first brought the row")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["state", "model", "source_key"], name="synctools_pulled_source_key")
        ]
        indexes = [models.Index(fields=["state", "model", "local_pk"], name="synctools_pulled_local_pk")]

    def __str__(self) -> str:
        return f"{self.model} {self.source_key} -> {self.local_pk}"
