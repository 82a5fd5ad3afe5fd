"""Models of this app; written only through tracker.services.

A node is a JSON document (`data`) keyed by its `_id` (`node_id`). The columns beside `data` are copies of
the keys the hot queries filter on, kept in step by `tracker.services`, and `SiteState` mirrors the
per-site sync keys (`synced_<site>`, `syncing_<site>`, `syncError_<site>`, `syncLastAttempt_<site>`) so that
the per-site work queue is an indexed query instead of a scan over JSON.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.fields.json import KeyTransform

from tracker.numbers import NodeJSONDecoder


class NodeKind(models.TextChoices):
    FILE = "file", "File"
    FOLDER = "folder", "Folder package"
    USER = "user", "User"
    VOLUME = "volume", "Volume"
    CHILD = "child", "Child node"
    OTHER = "other", "Other"


# The kinds that are files on disk: they have site-state rows, agents copy them.
FILE_KINDS = (NodeKind.FILE, NodeKind.FOLDER)


class NodeManager(models.Manager):
    """Nodes are matched across sites by `_id` (their natural key), never by database id."""

    def get_by_natural_key(self, node_id: str) -> Node:
        return self.get(node_id=node_id)

    def pks_by_natural_key(self, keys: list[tuple]) -> dict[tuple, int]:
        """Database ids of many natural keys in one query (replication matches a batch at a time)."""
        wanted = [key[0] for key in keys]
        return {(node_id,): pk for node_id, pk in self.filter(node_id__in=wanted).values_list("node_id", "pk")}


class Node(models.Model):
    """One damas-core node. `data` holds every key except `_id`."""

    node_id = models.TextField("_id")
    kind = models.CharField(max_length=8, choices=NodeKind.choices, default=NodeKind.OTHER)
    parent = models.TextField("#parent", null=True, blank=True)
    origin = models.TextField(null=True, blank=True)
    time = models.BigIntegerField(null=True, blank=True, help_text="Epoch milliseconds.")
    sync_priority = models.IntegerField(default=0)
    deleted = models.BooleanField(default=False)
    # "|alice|bob|" for authorMode filters that work the same on PostgreSQL and SQLite.
    authors = models.TextField(default="", blank=True)
    # Numbers read back in their shortest form (PostgreSQL's numeric prints 1e308 with all its digits).
    data = models.JSONField(default=dict, blank=True, decoder=NodeJSONDecoder)

    objects = NodeManager()

    class Meta:
        # Few indexes, because every publish pays for each of them: one unique text_pattern_ops index on
        # _id answers equality, IN and prefix (LIKE 'x%') lookups whatever the database collation is.
        constraints = [
            models.UniqueConstraint(fields=["node_id"], name="tracker_node_unique_id", opclasses=["text_pattern_ops"])
        ]
        indexes = [
            models.Index(fields=["parent"], name="tracker_node_parent", condition=Q(parent__isnull=False)),
            models.Index(fields=["origin"], name="tracker_node_origin"),
            models.Index(fields=["kind"], name="tracker_node_special", condition=Q(kind__in=["volume", "user"])),
            # Deleted files (few), for the agents' deletion queue.
            models.Index(fields=["node_id"], name="tracker_node_deleted", condition=Q(deleted=True)),
            # Edge nodes (graph): only nodes that have the key are indexed, so files pay nothing for these.
            models.Index(
                KeyTransform("src_id", "data"), name="tracker_node_edge_src", condition=Q(data__has_key="src_id")
            ),
            models.Index(
                KeyTransform("tgt_id", "data"), name="tracker_node_edge_tgt", condition=Q(data__has_key="tgt_id")
            ),
        ]

    def __str__(self) -> str:
        return self.node_id

    def as_wire(self) -> dict:
        return {"_id": self.node_id, **self.data}

    def natural_key(self) -> tuple[str]:
        return (self.node_id,)

    @classmethod
    def replication_refusals(cls, rows: list, context) -> set[int]:
        """Pulled copies a replication pull must not apply (synctools hook): see tracker.replication."""
        from tracker import replication

        return replication.node_refusals(rows, context)


class SiteStateManager(models.Manager):
    def get_by_natural_key(self, path: str, site: str) -> SiteState:
        return self.get(node__node_id=path, site=site)

    def pks_by_natural_key(self, keys: list[tuple]) -> dict[tuple, int]:
        by_site: dict[str, list[str]] = {}
        for path, site in keys:
            by_site.setdefault(site, []).append(path)
        found: dict[tuple, int] = {}
        for site, paths in by_site.items():
            rows = self.filter(site=site, node__node_id__in=paths).values_list("node__node_id", "pk")
            found.update({(path, site): pk for path, pk in rows})
        return found


class SiteState(models.Model):
    """Sync state of one file at one site (every site but the file's origin has one row).

    `active` = the site lacks the current version (not deleted, `synced` missing or older than `time`);
    `wanted` = destination filter from the node's keys, None when the node leaves it to the global
    `syncEverywhere`. `path`, `priority` and `time` are copies of the node's so the queue index alone orders;
    claimed rows (`syncing` set) leave the queue index, so claims already handed out cost nothing to skip.
    """

    # No index of its own: the unique (node, site) index serves lookups by node, and one index fewer is
    # one write fewer for each of the several state rows a publish makes per file. No database constraint
    # either: PostgreSQL checks a foreign key row by row (a publish of 1,000 files to 5 sites spent 22 ms of
    # its ~130 ms on 4,000 checks at commit), and every state row is written from its node in the same
    # statement or transaction. Deleting a node deletes its states (Django's CASCADE, and the service
    # deletes them explicitly); a replication pull refuses a state whose node is not here.
    node = models.ForeignKey(
        Node, on_delete=models.CASCADE, related_name="site_states", db_index=False, db_constraint=False
    )
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

    objects = SiteStateManager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["node", "site"], name="tracker_sitestate_node_site")]
        indexes = [
            models.Index(
                "site",
                models.F("priority").desc(),
                "time",
                "path",
                name="tracker_sitestate_queue_open",
                condition=Q(active=True, syncing__isnull=True),
            ),
            # In-flight claims, so stale ones are found without walking the queue.
            models.Index(
                fields=["site", "syncing"], name="tracker_sitestate_claims", condition=Q(syncing__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path} @ {self.site}"

    def natural_key(self) -> tuple[str, str]:
        """(the node's `_id`, site): `path` is the node's `_id`, copied here, so no join is needed."""
        return (self.path, self.site)

    natural_key.dependencies = ["tracker.node"]

    @classmethod
    def replication_refusals(cls, rows: list, context) -> set[int]:
        """A state follows its node: refused where the node's pulled copy was (synctools hook)."""
        from tracker import replication

        return replication.state_refusals(rows, context)


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
        verbose_name_plural = "tracker user classes"

    def __str__(self) -> str:
        return f"{self.user} ({self.user_class})"


class VolumeManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=NodeKind.VOLUME)


class Volume(Node):
    """Volume nodes (one per site), for their typed admin page."""

    objects = VolumeManager()

    class Meta:
        proxy = True
        verbose_name = "volume"

    def __str__(self) -> str:
        return str(self.data.get("name") or self.node_id)


class GlobalParametersManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(node_id="rsyncGlobalParameters")


class GlobalParameters(Node):
    """The rsyncGlobalParameters node, for its typed admin page."""

    objects = GlobalParametersManager()

    class Meta:
        proxy = True
        verbose_name = "global parameters"
        verbose_name_plural = "global parameters"

    def __str__(self) -> str:
        return "rsyncGlobalParameters"
