"""The kernel's own table: API tokens, the one credential of every token-authenticated route."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token. Only a SHA-256 digest is stored: a database leak gives away no working token.

    `prefix` (the first characters of the token) lets an operator tell tokens apart; tokens imported
    from before this table existed may have none, since only their digest was known.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    label = models.CharField(max_length=100, blank=True, help_text="What the token is for (a script, a site).")
    prefix = models.CharField(max_length=8, null=True, blank=True, editable=False, db_index=True)
    digest = models.CharField(max_length=64, unique=True, editable=False, help_text="SHA-256 of the token, hex.")
    created = models.DateTimeField(default=timezone.now, editable=False)
    expires = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked = models.DateTimeField(null=True, blank=True, help_text="When the token was revoked; empty: valid.")
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    agent = models.BooleanField(
        default=False, help_text="Agent capability: may set the tracker's per-site sync keys (synced_*, syncing_*, …)."
    )

    class Meta:
        verbose_name = "API token"
        ordering = ["-created"]

    def __str__(self) -> str:
        shown = f"{self.prefix}…" if self.prefix else "(imported)"
        return f"{self.label or 'token'} {shown} of {self.user}"

    def is_live(self, now=None) -> bool:
        """Neither revoked nor expired."""
        now = now or timezone.now()
        return self.revoked is None and (self.expires is None or self.expires > now)


class Change(models.Model):
    """Rows written, changed or deleted in a captured table by one statement (PostgreSQL) or one row (SQLite),
    recorded by a database trigger in the writer's own transaction (`syncsite.changes`): what incremental
    replication and the tracker's change feed read. One log row per statement keeps bulk writes cheap.

    The id orders the log; `txid` (PostgreSQL) is the writing transaction, so a cursor knows which
    transactions were still open when it was handed out. `origin` is the URL a replication pull applied the
    change from ("" for changes made here), `op` create/update/delete or the label the writer gave (lock,
    publish, ...). `pks` lists the rows; `keys` their natural keys and `scopes` a column readers filter by (the
    tracker's authors), in the same order, where the table declares them.
    """

    id = models.BigAutoField(primary_key=True)
    model = models.CharField(max_length=200, help_text="app_label.model_name")
    op = models.CharField(max_length=16)
    pks = models.JSONField(default=list)
    keys = models.JSONField(null=True, blank=True)
    scopes = models.JSONField(null=True, blank=True)
    origin = models.TextField(blank=True, default="")
    txid = models.BigIntegerField(null=True, blank=True)
    time = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name = "change"
        # No other index: every captured write pays for each one. PostgreSQL adds one on txid (migration).

    def __str__(self) -> str:
        return f"{self.id} {self.op} {self.model} ({len(self.pks or [])} rows)"

    def entries(self) -> list[tuple[str, list | None, str]]:
        """(pk as text, natural key or None, scope or "") of each row."""
        if not isinstance(self.pks, list):  # SQLite's row triggers: one row, its values as they are
            return [(str(self.pks), self.keys, self.scopes or "")]
        pks = self.pks or []
        keys = self.keys or [None] * len(pks)
        scopes = self.scopes or [""] * len(pks)
        return [(str(pk), key, scope or "") for pk, key, scope in zip(pks, keys, scopes, strict=False)]


class ChangeContext(models.Model):
    """SQLite only: a marked block of writes (a pull's origin, an operation's label) in progress.

    A row lives only inside the transaction that wrote it. Writing it takes SQLite's write lock, so `start` (the
    newest log id then) is exact: the log rows above it, until the block ends, are the block's, and get its marks
    then (one UPDATE, instead of every trigger run reading the marks). PostgreSQL uses transaction-local settings.
    """

    origin = models.TextField(blank=True, default="")
    op = models.CharField(max_length=16, blank=True, default="")
    start = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.op or 'change'} from {self.origin or 'here'}"


class ChangeHorizon(models.Model):
    """How far the log was pruned: a cursor below `pruned_upto` needs a full pull."""

    pruned_upto = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"pruned up to {self.pruned_upto}"


class Heartbeat(models.Model):
    """The last sign of life of something that runs on its own: an agent from cron, a queue worker, a command."""

    key = models.CharField(max_length=200, unique=True, help_text="agent:<site>, worker:<cluster>, command:<name>")
    last_seen = models.DateTimeField(db_index=True)
    last_ok = models.DateTimeField(null=True, blank=True)
    ok = models.BooleanField(default=True, help_text="Whether its last run did all its work.")
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} {self.last_seen:%Y-%m-%d %H:%M:%S}"


class TaskLease(models.Model):
    """A named lease a task holds while it runs, so two workers never run the same long job at once.

    `expires` bounds it: a worker killed mid-task (a cluster lost) leaves its lease behind, and the next
    run takes it over once it has expired (after the queue's timeout, when that worker would have been stopped).
    """

    name = models.CharField(max_length=255, unique=True)
    holder = models.CharField(max_length=64)
    acquired = models.DateTimeField()
    expires = models.DateTimeField()

    class Meta:
        verbose_name = "task lease"

    def __str__(self) -> str:
        return self.name
