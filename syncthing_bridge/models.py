"""Models of this app; written only through services.py.

`SyncthingInstance` is configured by people (admin); the other tables mirror what the daemons report and are
rewritten by the refresh task and the event listener.
"""

from __future__ import annotations

import math

from django.core.exceptions import ValidationError
from django.db import models

from syncsite.fields import EncryptedTextField, UnreadableSecret
from syncsite.redact import redact_url

MAX_TIMEOUT = 300.0


def validate_timeout(value: float) -> None:
    """Seconds for one REST answer: a finite number in (0, MAX_TIMEOUT]; zero or less makes every call fail."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError("The timeout must be a number of seconds.", code="invalid") from None
    if not math.isfinite(number) or not 0 < number <= MAX_TIMEOUT:
        raise ValidationError(
            f"The timeout must be more than 0 and at most {MAX_TIMEOUT:g} seconds (got {value!r}).", code="range"
        )


def validate_api_key(value: str) -> None:
    """Sent as an HTTP header: printable Latin-1 without white space or control characters, at most 200 long."""
    if not isinstance(value, str) or not value:
        raise ValidationError("The API key is required.", code="required")
    if len(value) > 200:
        raise ValidationError("The API key is longer than 200 characters.", code="length")
    bad = next((ch for ch in value if not ("\x21" <= ch <= "\x7e" or "\xa1" <= ch <= "\xff")), None)
    if bad is not None:
        raise ValidationError(
            f"The API key may hold only printable Latin-1 characters without spaces (found U+{ord(bad):04X}).",
            code="characters",
        )


class SyncthingInstance(models.Model):
    """One Syncthing daemon that Syncsite watches, reached through its GUI/REST address."""

    name = models.CharField(max_length=100, unique=True, help_text="Also the host name in the inventory.")
    url = models.URLField(help_text="GUI/REST address, e.g. http://127.0.0.1:8384 or https://nas.example.com:8384")
    api_key = EncryptedTextField(
        unreadable_ok=True,  # stored under a key this site no longer has: listed as "unreadable, re-enter it"
        validators=[validate_api_key],
        help_text="The daemon's API key (Settings → GUI). Stored encrypted, never shown.",
    )
    ca_certificate = models.TextField(
        blank=True, help_text="PEM certificate(s) that sign the GUI certificate, for https with a self-signed one."
    )
    site = models.CharField(
        max_length=200, blank=True, help_text="Tracker site (volume name) whose files this daemon holds."
    )
    syncthing_only = models.BooleanField(
        "Syncthing-only site",
        default=False,
        help_text="The site is known to Syncthing only (no tracker volume of that name); otherwise the site must "
        "name an existing volume.",
    )
    enabled = models.BooleanField(default=True)
    timeout = models.FloatField(
        default=10.0,
        validators=[validate_timeout],
        help_text=f"Seconds to wait for one REST answer (more than 0, at most {MAX_TIMEOUT:g}).",
    )

    # Reported by the daemon (services.refresh_instance / test_connection).
    device_id = models.CharField(max_length=63, blank=True, db_index=True)
    version = models.CharField(max_length=100, blank=True)
    uptime = models.BigIntegerField(null=True, blank=True, help_text="Seconds, at the last refresh.")
    reachable = models.BooleanField(default=False)
    last_error = models.TextField(blank=True)
    last_refresh = models.DateTimeField(null=True, blank=True)

    # The event listener's progress.
    last_event_id = models.BigIntegerField(default=0)
    last_disk_event_id = models.BigIntegerField(default=0, help_text="Progress in /rest/events/disk (own ids).")
    listener_seen = models.DateTimeField(null=True, blank=True)
    listener_error = models.TextField(blank=True)

    # What the daemon and the listener report: shown everywhere, written only by services.
    OBSERVED_FIELDS = (
        "device_id",
        "version",
        "uptime",
        "reachable",
        "last_error",
        "last_refresh",
        "last_event_id",
        "last_disk_event_id",
        "listener_seen",
        "listener_error",
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "Syncthing instance"

    def __str__(self) -> str:
        return self.name

    API_KEY_UNREADABLE = "key unreadable, re-enter it (stored under an encryption key this site no longer has)"

    @property
    def api_key_unreadable(self) -> bool:
        """The stored API key cannot be decrypted (FIELD_ENCRYPTION_KEY changed without its old key kept)."""
        return isinstance(self.api_key, UnreadableSecret)

    @property
    def shown_url(self) -> str:
        """The URL as it may be displayed: without user info or credential parameters."""
        return redact_url(self.url)

    def configuration_problems(self) -> list[str]:
        """Why this instance cannot be used as stored (rows written before validation existed); empty when fine."""
        if self.api_key_unreadable:
            return [f"api_key: {self.API_KEY_UNREADABLE}"]
        problems = []
        for field, validator in (("timeout", validate_timeout), ("api_key", validate_api_key)):
            try:
                validator(getattr(self, field))
            except ValidationError as exc:
                problems.extend(f"{field}: {message.rstrip('.')}" for message in exc.messages)
        return problems


class SyncthingDevice(models.Model):
    """A device configured on an instance (the instance's own device included), as last reported."""

    instance = models.ForeignKey(SyncthingInstance, on_delete=models.CASCADE, related_name="devices")
    device_id = models.CharField(max_length=63)
    name = models.CharField(max_length=200, blank=True)
    is_self = models.BooleanField(default=False)
    connected = models.BooleanField(default=False)
    paused = models.BooleanField(default=False)
    address = models.CharField(max_length=200, blank=True)
    client_version = models.CharField(max_length=100, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    in_bytes_total = models.BigIntegerField(default=0)
    out_bytes_total = models.BigIntegerField(default=0)
    in_bytes_per_second = models.FloatField(
        default=0.0, help_text="Receive rate between the last two samples (the listener's or a refresh's)."
    )
    out_bytes_per_second = models.FloatField(
        default=0.0, help_text="Send rate between the last two samples (the listener's or a refresh's)."
    )
    bytes_at = models.DateTimeField(null=True, blank=True, help_text="When the byte totals were read.")

    class Meta:
        ordering = ["instance__name", "-is_self", "name"]
        verbose_name = "Syncthing device"
        constraints = [models.UniqueConstraint(fields=["instance", "device_id"], name="syncthing_device_unique")]

    def __str__(self) -> str:
        return f"{self.instance.name}: {self.name or self.device_id[:7]}"


class SyncthingFolder(models.Model):
    """A folder configured on an instance, with its state as last reported."""

    instance = models.ForeignKey(SyncthingInstance, on_delete=models.CASCADE, related_name="folders")
    folder_id = models.CharField(max_length=200)
    label = models.CharField(max_length=200, blank=True)
    path = models.TextField(blank=True)
    folder_type = models.CharField(max_length=30, blank=True)
    paused = models.BooleanField(default=False)
    state = models.CharField(max_length=30, blank=True, help_text="idle, scanning, syncing, error, ...")
    error = models.TextField(blank=True)
    need_bytes = models.BigIntegerField(default=0)
    need_items = models.BigIntegerField(default=0)
    global_bytes = models.BigIntegerField(default=0)
    local_bytes = models.BigIntegerField(default=0)
    pull_errors = models.IntegerField(default=0)
    completion = models.FloatField(default=100.0, help_text="Local completion, in percent of the global bytes.")
    last_change = models.DateTimeField(null=True, blank=True)
    last_change_path = models.TextField(blank=True)

    # The state mirrored from the daemon on every refresh (services.refresh_instance upserts these).
    MIRRORED_FIELDS = (
        "label",
        "path",
        "folder_type",
        "paused",
        "state",
        "error",
        "need_bytes",
        "need_items",
        "global_bytes",
        "local_bytes",
        "pull_errors",
        "completion",
    )

    class Meta:
        ordering = ["instance__name", "folder_id"]
        constraints = [models.UniqueConstraint(fields=["instance", "folder_id"], name="syncthing_folder_unique")]
        verbose_name = "Syncthing folder"

    def __str__(self) -> str:
        return f"{self.instance.name}: {self.label or self.folder_id}"


class FolderCompletion(models.Model):
    """How complete a remote device is for a folder, as its instance sees it."""

    folder = models.ForeignKey(SyncthingFolder, on_delete=models.CASCADE, related_name="completions")
    device_id = models.CharField(max_length=63)
    device_name = models.CharField(max_length=200, blank=True)
    completion = models.FloatField(default=0.0)
    need_bytes = models.BigIntegerField(default=0)
    need_items = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["folder", "device_name"]
        constraints = [models.UniqueConstraint(fields=["folder", "device_id"], name="syncthing_completion_unique")]

    def __str__(self) -> str:
        return f"{self.device_name or self.device_id[:7]}: {self.completion:.0f} %"


class VolumeMapping(models.Model):
    """A Syncthing folder whose files are tracked: item `x/y` of the folder is tracker node `<tracker_prefix>/x/y`."""

    instance = models.ForeignKey(SyncthingInstance, on_delete=models.CASCADE, related_name="mappings")
    folder_id = models.CharField(max_length=200)
    tracker_prefix = models.CharField(max_length=1000, help_text="Tracker path of the folder's root, e.g. /projects/x")
    publish_local_files = models.BooleanField(
        default=True, help_text="Publish files created at this site into the tracker ('modified at <site>')."
    )

    class Meta:
        ordering = ["instance__name", "folder_id"]
        constraints = [models.UniqueConstraint(fields=["instance", "folder_id"], name="syncthing_mapping_unique")]

    def __str__(self) -> str:
        return f"{self.instance.name}:{self.folder_id} → {self.tracker_prefix}"

    def clean(self) -> None:
        if not self.tracker_prefix.startswith("/") or "//" in self.tracker_prefix:
            raise ValidationError({"tracker_prefix": "A tracker path starts with / and has no empty parts, e.g. /proj"})

    def tracker_path(self, item: str) -> str:
        return self.tracker_prefix.rstrip("/") + "/" + item.lstrip("/")


class FolderError(models.Model):
    """A file the daemon could not sync in a folder (FolderErrors event, /rest/folder/errors), with its path."""

    folder = models.ForeignKey(SyncthingFolder, on_delete=models.CASCADE, related_name="errors")
    path = models.TextField()
    error = models.TextField()

    class Meta:
        ordering = ["folder", "path"]

    def __str__(self) -> str:
        return f"{self.path}: {self.error}"


class FolderConflict(models.Model):
    """A `.sync-conflict-*` copy in a folder: two devices changed the same file; a person must choose."""

    folder = models.ForeignKey(SyncthingFolder, on_delete=models.CASCADE, related_name="conflicts")
    path = models.TextField(help_text="The conflict copy, relative to the folder.")
    original = models.TextField(help_text="The file it is a conflicting version of.")
    detected = models.DateTimeField()

    class Meta:
        ordering = ["folder", "path"]
        constraints = [models.UniqueConstraint(fields=["folder", "path"], name="syncthing_conflict_unique")]

    def __str__(self) -> str:
        return self.path


class PendingDevice(models.Model):
    """A device that tried to connect to an instance and is not in its config yet."""

    instance = models.ForeignKey(SyncthingInstance, on_delete=models.CASCADE, related_name="pending_devices")
    device_id = models.CharField(max_length=63)
    name = models.CharField(max_length=200, blank=True)
    address = models.CharField(max_length=200, blank=True)
    seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["instance__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["instance", "device_id"], name="syncthing_pending_device_unique")
        ]

    def __str__(self) -> str:
        return f"{self.instance.name}: {self.name or self.device_id[:7]} (pending)"


class PendingFolder(models.Model):
    """A folder a device offered to an instance that the instance does not share with it yet."""

    instance = models.ForeignKey(SyncthingInstance, on_delete=models.CASCADE, related_name="pending_folders")
    folder_id = models.CharField(max_length=200)
    label = models.CharField(max_length=200, blank=True)
    offered_by = models.CharField(max_length=63)
    seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["instance__name", "folder_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["instance", "folder_id", "offered_by"], name="syncthing_pending_folder_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.instance.name}: {self.label or self.folder_id} from {self.offered_by[:7]} (pending)"
