"""The notifications door: receivers of the kernel's events, the digest, and the channels' senders.

An event (kind, key) opens an incident per matching rule. The first occurrence is told at once; repeats
within the rule's cool-down are held back on the incident (`pending`) and told as one digest by the next
occurrence after the cool-down or by the `flush` task. One event already stands for a whole run (one
agent round with 1,000 failed files is one event with count 1,000), so a failing run is one message.
`resolve` closes the incident and, if it was told, sends "recovered".

Messages go out from a worker task (`NOTIFICATIONS_DELIVERY = "queue"`, the default), queued once the
transaction that recorded the incident commits: the run that raised the event never waits for a slow mail
server or a webhook's retries. What a lost task did not send stays on the incident for `flush` (the health
check task, every 5 minutes). `"inline"` sends from the raising process instead; a queue that refuses the
task does too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.utils import timezone

from notifications.models import Channel, Delivery, Incident, Rule
from syncsite import events
from syncsite.redact import redact_urls_in_text as redact_text

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Syncsite-Signature"
LINES_IN_MESSAGE = 50


def _setting(name: str, default):
    return getattr(settings, name, default)


# --------------------------------------------------------------------------- receivers


def on_raised(sender: str, event: events.Event, **_kwargs) -> None:
    """Record the occurrence for every matching rule; tell now unless the rule's cool-down holds it back."""
    now = timezone.now()
    occurrence = {"time": now.isoformat(), "title": event.title, "count": event.count, "lines": event.lines[:50]}
    for rule in Rule.objects.filter(enabled=True).prefetch_related("channels"):
        if not rule.matches(event.kind):
            continue
        with transaction.atomic():
            incident = _open_incident(rule, event, now)
            incident.title = event.title
            incident.site = event.site or incident.site
            incident.emails = event.emails or incident.emails
            incident.last_seen = now
            incident.occurrences += 1
            incident.count += event.count
            incident.pending = [*incident.pending, occurrence][-20:]
            incident.save()
        if _cooled_down(incident, rule, now):
            _send_later("tell", incident.pk)


def _open_incident(rule: Rule, event: events.Event, now) -> Incident:
    """The open incident of (rule, kind, key), locked; created when there is none (another process may race)."""
    lookup = {"rule": rule, "kind": event.kind, "key": event.key, "resolved__isnull": True}
    incident = Incident.objects.select_for_update().filter(**lookup).first()
    if incident is not None:
        return incident
    try:
        with transaction.atomic():  # a savepoint: the unique open-incident constraint may refuse a racing twin
            return Incident.objects.create(
                rule=rule, kind=event.kind, key=event.key, title=event.title, site=event.site, opened=now
            )
    except IntegrityError:
        return Incident.objects.select_for_update().get(**lookup)


def on_resolved(sender: str, kind: str, key: str, title: str = "", **_kwargs) -> None:
    """Close the open incidents of (kind, key); tell "recovered" where the failure had been told."""
    now = timezone.now()
    for incident in Incident.objects.filter(kind=kind, key=key, resolved__isnull=True).select_related("rule"):
        incident.resolved = now
        incident.save(update_fields=["resolved"])
        rule = incident.rule
        if rule.send_recovered and rule.enabled and incident.last_notified is not None:
            _send_later("tell_recovered", incident.pk, title)


def tell_recovered(incident: Incident, title: str = "") -> int:
    """The "recovered" message of a closed incident, to its rule's channels."""
    rule = incident.rule
    title = title or incident.title
    subject = f"[Syncsite] recovered: {title}"
    body = {
        "status": "recovered",
        "kind": incident.kind,
        "key": incident.key,
        "title": title,
        "site": incident.site,
        "failing_since": incident.opened.isoformat(),
        "occurrences": incident.occurrences,
    }
    text = (
        f"Recovered: {title}\n\nFailing since {incident.opened:%Y-%m-%d %H:%M:%S %Z}"
        f" ({incident.occurrences} occurrence(s), {incident.count} failure(s) in all).\n"
    )
    return _deliver(incident, rule, subject, text, body)


def _send_later(message: str, incident_pk: int, *args: str) -> None:
    """Send `message` ("tell" or "tell_recovered") of this incident from a worker once the transaction commits;
    inline when NOTIFICATIONS_DELIVERY is "inline" or the queue refuses the task."""
    if _setting("NOTIFICATIONS_DELIVERY", "queue") == "inline":
        deliver(message, incident_pk, *args)
        return

    def enqueue() -> None:
        from django_q.tasks import async_task

        try:
            async_task("notifications.tasks.deliver", message, incident_pk, *args, group="notifications")
        except Exception as exc:  # a broker that is down must not lose the message nor fail the run
            logger.warning("notification task not queued (%s): sending it from this process", exc)
            deliver(message, incident_pk, *args)

    transaction.on_commit(enqueue, robust=True)


def deliver(message: str, incident_pk: int, *args: str) -> int:
    """Run one queued message; 0 when the incident is gone or its message went out already (a digest)."""
    incident = Incident.objects.select_related("rule").filter(pk=incident_pk).first()
    if incident is None or not incident.rule.enabled:
        return 0  # gone, or its rule switched off after the event was raised: an admin silenced it
    if message == "tell":
        told_before = incident.last_notified
        sent = _tell(incident, incident.rule)
        incident.refresh_from_db(fields=["last_notified"])
        rule = incident.rule
        if incident.resolved is not None and incident.last_notified != told_before and rule.send_recovered:
            # It recovered before this task ran (so `on_resolved` had nothing told to follow up): the failure
            # just told is followed by its recovery, in this order, as when both are sent inline.
            sent += tell_recovered(incident)
        return sent
    if message == "tell_recovered":
        return tell_recovered(incident, *args)
    raise ValueError(f"unknown notification message {message!r}")


def _cooled_down(incident: Incident, rule: Rule, now) -> bool:
    return incident.last_notified is None or now - incident.last_notified >= timedelta(minutes=rule.cooldown_minutes)


def flush() -> int:
    """Tell every open incident with held-back occurrences whose cool-down has passed (the digest)."""
    now = timezone.now()
    sent = 0
    for incident in (
        Incident.objects.filter(resolved__isnull=True, rule__enabled=True).exclude(pending=[]).select_related("rule")
    ):
        if incident.pending and _cooled_down(incident, incident.rule, now):
            sent += _tell(incident, incident.rule)
    return sent


# --------------------------------------------------------------------------- messages


def _tell(incident: Incident, rule: Rule) -> int:
    """One message with every held-back occurrence of the incident; returns the deliveries that succeeded."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        pending = list(locked.pending)
        if not pending:
            return 0
        locked.pending = []
        locked.last_notified = timezone.now()
        locked.save(update_fields=["pending", "last_notified"])
    total = sum(int(o.get("count") or 0) for o in pending)
    lines: list[str] = []
    for occurrence in pending:
        for line in occurrence.get("lines") or []:
            if len(lines) < LINES_IN_MESSAGE:
                lines.append(line)
    digest = len(pending) > 1
    latest = pending[-1]
    subject = f"[Syncsite] {'digest: ' if digest else ''}{latest['title']}"
    text_lines = [latest["title"], ""]
    if digest:
        text_lines.append(f"{len(pending)} occurrences since {pending[0]['time']}, {total} failure(s) in all.")
        text_lines += [f"- {o['time']}: {o['title']}" for o in pending]
        text_lines.append("")
    if lines:
        more = f" (first {len(lines)} of {total})" if total > len(lines) else ""
        text_lines.append(f"Details{more}:")
        text_lines += [f"  {line}" for line in lines]
    text = "\n".join(text_lines) + "\n"
    body = {
        "status": "failing",
        "kind": locked.kind,
        "key": locked.key,
        "title": latest["title"],
        "site": locked.site,
        "count": total,
        "occurrences": [{"time": o["time"], "title": o["title"], "count": o.get("count", 0)} for o in pending],
        "lines": lines,
        "failing_since": locked.opened.isoformat(),
    }
    return _deliver(locked, rule, subject, text, body)


def _deliver(incident: Incident, rule: Rule, subject: str, text: str, body: dict) -> int:
    text = redact_text(text)
    ok = 0
    mail_to: set[str] = set()
    for channel in rule.channels.all():
        if not channel.enabled:
            continue
        if channel.kind == Channel.EMAIL:
            mail_to.update(channel.addresses())
        elif channel.kind == Channel.WEBHOOK:
            ok += send_webhook(channel, subject, body, incident)
    if rule.notify_event_emails:
        mail_to.update(incident.emails or [])
    if mail_to:
        ok += send_mail(sorted(mail_to), subject, text, incident)
    return ok


def send_mail(recipients: list[str], subject: str, text: str, incident: Incident | None = None) -> int:
    """One mail to every recipient (Django's mail backend: EMAIL_HOST/PORT/...); recorded as a delivery."""
    delivery = Delivery(incident=incident, subject=subject[:500], recipients=", ".join(recipients), attempts=1)
    try:
        connection = get_connection(timeout=_setting("NOTIFICATIONS_MAIL_TIMEOUT", 10))
        message = EmailMessage(subject=subject, body=text, to=recipients, connection=connection)
        message.send()
        delivery.ok = True
    except Exception as exc:  # a mail server down must not break the run that raised the event
        delivery.error = redact_text(f"{type(exc).__name__}: {exc}")[:2000]
        logger.warning("notification mail %r not sent: %s", subject, delivery.error)
    delivery.save()
    return int(delivery.ok)


def signature(secret: str, payload: bytes) -> str:
    """The value of the signature header: sha256=<hex HMAC-SHA256 of the exact body with the channel's secret>."""
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def send_webhook(channel: Channel, subject: str, body: dict, incident: Incident | None = None) -> int:
    """POST the JSON body; retried with exponential backoff on connection errors and 5xx/429 answers."""
    payload = json.dumps({"subject": subject, **body}, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Syncsite-notifications"}
    if channel.secret:
        headers[SIGNATURE_HEADER] = signature(channel.secret, payload)
    retries = int(_setting("NOTIFICATIONS_WEBHOOK_RETRIES", 3))
    backoff = float(_setting("NOTIFICATIONS_WEBHOOK_BACKOFF", 0.5))
    timeout = float(_setting("NOTIFICATIONS_WEBHOOK_TIMEOUT", 5))
    delivery = Delivery(channel=channel, incident=incident, subject=subject[:500], recipients=channel.url)
    for attempt in range(retries + 1):
        delivery.attempts = attempt + 1
        try:
            response = requests.post(channel.url, data=payload, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            delivery.error = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code < 300:
                delivery.ok, delivery.error = True, ""
                break
            delivery.error = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                break  # the receiver refused this message: sending it again will not help
        if attempt < retries:
            time.sleep(backoff * (2**attempt))
    delivery.error = redact_text(delivery.error)[:2000]
    delivery.recipients = redact_text(channel.url)[:2000]
    if not delivery.ok:
        logger.warning("webhook %s: %r not delivered: %s", channel.name, subject, delivery.error)
    delivery.save()
    return int(delivery.ok)


def open_incidents() -> list[Incident]:
    return list(Incident.objects.filter(resolved__isnull=True).order_by("-last_seen")[:100])
