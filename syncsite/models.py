"""The kernel's own table: API tokens, the one credential of every token-authenticated route."""

from __future__ import annotations

from django.conf import settings
from django.db import models
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
