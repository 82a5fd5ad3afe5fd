"""Models of this app; written only through services.py.

A node is a JSON document (`data`) keyed by its `_id` (`node_id`). The columns beside `data` are copies of
the keys the hot queries filter on, kept in step by `tracker.services`, and `SiteState` mirrors the
per-site sync keys (`synced_<site>`, `syncing_<site>`, `syncError_<site>`, `syncLastAttempt_<site>`) so that
the per-site work queue is an indexed query instead of a scan over JSON.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class NodeKind(models.TextChoices):
    FILE = "file", "File"
    FOLDER = "folder", "Folder package"
    USER = "user", "User"
    VOLUME = "volume", "Volume"
    CHILD = "child", "Child node"
    OTHER = "other", "Other"


class Node(models.Model):
    """One damas-core node. `data` holds every key except `_id`."""

    node_id = models.TextField("_id", unique=True)  # on PostgreSQL Django adds a text_pattern_ops twin index
    kind = models.CharField(max_length=8, choices=NodeKind.choices, default=NodeKind.OTHER)
    parent = models.TextField("#parent", null=True, blank=True)
    origin = models.TextField(null=True, blank=True)
    time = models.BigIntegerField(null=True, blank=True, help_text="Epoch milliseconds.")
    sync_priority = models.IntegerField(default=0)
    deleted = models.BooleanField(default=False)
    # "|alice|bob|" for authorMode filters that work the same on PostgreSQL and SQLite.
    authors = models.TextField(default="", blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["parent"], name="tracker_node_parent"),
            models.Index(fields=["origin"], name="tracker_node_origin"),
            models.Index(fields=["kind", "node_id"], name="tracker_node_kind_id"),
            models.Index(fields=["time"], name="tracker_node_time"),
        ]

    def __str__(self) -> str:
        return self.node_id

    def as_wire(self) -> dict:
        return {"_id": self.node_id, **self.data}


class SiteState(models.Model):
    """Sync state of one file at one site (every site but the file's origin has one row).

    `active` = the site lacks the current version (not deleted, `synced` missing or older than `time`);
    `wanted` = destination filter from the node's keys, None when the node leaves it to the global
    `syncEverywhere`. `path`, `priority` and `time` are copies of the node's so the queue index alone orders.
    """

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="site_states")
    site = models.TextField()
    path = models.TextField()
    priority = models.IntegerField(default=0)
    time = models.BigIntegerField(default=0)
    active = models.BooleanField(default=True)
    wanted = models.BooleanField(null=True)
    synced = models.BigIntegerField(null=True, blank=True)
    syncing = models.BigIntegerField(null=True, blank=True)
    error = models.IntegerField(null=True, blank=True)
    last_attempt = models.BigIntegerField(null=True, blank=True)
    failures = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "site"], name="tracker_sitestate_node_site")]
        indexes = [
            models.Index(
                "site",
                models.F("priority").desc(),
                "time",
                "path",
                name="tracker_sitestate_queue",
                condition=Q(active=True),
            ),
            models.Index(fields=["site", "path"], name="tracker_sitestate_site_path"),
        ]

    def __str__(self) -> str:
        return f"{self.path} @ {self.site}"


class UserClass(models.TextChoices):
    GUEST = "guest", "guest"
    USER = "user", "user"
    EDITOR = "editor", "editor"
    ADMIN = "admin", "admin"


CLASS_RANK = {UserClass.GUEST: 0, UserClass.USER: 1, UserClass.EDITOR: 2, UserClass.ADMIN: 3}


class TrackerProfile(models.Model):
    """A Django user's tracker class (guest < user < editor < admin). Superusers are always admin."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tracker_profile")
    user_class = models.CharField("class", max_length=8, choices=UserClass.choices, default=UserClass.USER)

    class Meta:
        verbose_name = "tracker user class"

    def __str__(self) -> str:
        return f"{self.user} ({self.user_class})"


class AccessToken(models.Model):
    """A signIn token. Only its SHA-256 is stored, so a database leak does not leak sessions."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tracker_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "tracker access token"

    def __str__(self) -> str:
        return f"token of {self.user} (expires {self.expires or 'never'})"
