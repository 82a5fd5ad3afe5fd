"""Channels (where a message goes), rules (which events go where, how often) and incidents (what is failing)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from syncsite.fields import EncryptedTextField


class Channel(models.Model):
    EMAIL, WEBHOOK = "email", "webhook"
    KINDS = [(EMAIL, "e-mail"), (WEBHOOK, "webhook (JSON POST)")]

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=KINDS)
    enabled = models.BooleanField(default=True)
    recipients = models.TextField(
        blank=True, help_text="E-mail: addresses, one per line or comma-separated (Django's mail settings send them)."
    )
    url = models.URLField(max_length=2000, blank=True, help_text="Webhook: the URL the JSON message is POSTed to.")
    secret = EncryptedTextField(
        blank=True,
        default="",
        help_text="Webhook: HMAC-SHA256 key; the body's signature goes in X-Syncsite-Signature (sha256=<hex>).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    def clean(self) -> None:
        if self.kind == self.WEBHOOK and not self.url:
            raise ValidationError({"url": "A webhook channel needs a URL."})
        if self.kind == self.EMAIL:
            bad = [a for a in self.addresses() if "@" not in a]
            if bad:
                raise ValidationError({"recipients": f"Not e-mail addresses: {', '.join(bad)}"})

    def addresses(self) -> list[str]:
        text = (self.recipients or "").replace(",", "\n").replace(";", "\n")
        return [line.strip() for line in text.splitlines() if line.strip()]


class Rule(models.Model):
    """Which events reach which channels; a cool-down folds repeats into one digest; recoveries are told."""

    name = models.CharField(max_length=100, unique=True)
    enabled = models.BooleanField(default=True)
    events = models.JSONField(default=list, help_text="Event kinds (see the choices); empty: every event.")
    channels = models.ManyToManyField(Channel, blank=True, related_name="rules")
    notify_event_emails = models.BooleanField(
        default=True, help_text="Also mail the addresses the event names (a volume's notifiedEmails)."
    )
    cooldown_minutes = models.PositiveIntegerField(
        default=60, help_text="After a message, repeats of the same failure wait this long and go out as one digest."
    )
    send_recovered = models.BooleanField(default=True, help_text="Send a 'recovered' message when it works again.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def matches(self, kind: str) -> bool:
        return self.enabled and (not self.events or kind in self.events)


class Incident(models.Model):
    """One failing thing (event kind, key) for one rule: open until resolved; what is held back for the digest."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    title = models.CharField(max_length=500)
    site = models.CharField(max_length=200, blank=True)
    emails = models.JSONField(default=list, blank=True)
    opened = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved = models.DateTimeField(null=True, blank=True, db_index=True)
    occurrences = models.PositiveIntegerField(default=0)
    count = models.PositiveIntegerField(default=0, help_text="Things that failed over the occurrences.")
    pending = models.JSONField(default=list, blank=True, help_text="Occurrences not told yet (the next digest).")
    last_notified = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "kind", "key"],
                condition=models.Q(resolved__isnull=True),
                name="notifications_incident_one_open",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"


class Delivery(models.Model):
    """One message sent (or given up) on one channel: the admin's record of what was told."""

    channel = models.ForeignKey(Channel, on_delete=models.SET_NULL, null=True, related_name="deliveries")
    incident = models.ForeignKey(Incident, on_delete=models.SET_NULL, null=True, related_name="deliveries")
    created = models.DateTimeField(default=timezone.now, db_index=True)
    subject = models.CharField(max_length=500)
    recipients = models.TextField(blank=True)
    ok = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.subject} ({'sent' if self.ok else 'failed'})"
