"""Operational events: apps say that something failed (or recovered); whoever listens decides who is told.

Apps declare the kinds of event they raise (in their `AppConfig.ready()`), then call `emit()` when a run
failed and `resolve()` when the same thing works again. The notifications app listens to the two signals
below; apps never import it, so an app raises events without knowing who reads them. A receiver that
fails is logged and never breaks the caller (`send_robust`): an agent round does not fail because a mail
server is down.

An event is keyed by (kind, key): `key` names the thing that failed (a site, a job, an instance), so the
same failure seen again is the same incident, and `resolve(kind, key)` ends it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.dispatch import Signal

logger = logging.getLogger(__name__)

# Signals (sender: the event kind). `raised` carries `event`, `resolved` carries `kind`, `key`, `title`.
raised = Signal()
resolved = Signal()

MAX_LINES = 200  # what one event carries of its details (a digest names the first ones and the count)


@dataclass(frozen=True)
class EventKind:
    kind: str
    label: str
    description: str = ""


@dataclass
class Event:
    """One occurrence: `count` things failed (files, rows, runs), `lines` name the first of them."""

    kind: str
    key: str
    title: str
    lines: list[str] = field(default_factory=list)
    count: int = 1
    site: str = ""
    emails: list[str] = field(default_factory=list)
    url: str = ""

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "key": self.key,
            "title": self.title,
            "lines": list(self.lines),
            "count": self.count,
            "site": self.site,
            "url": self.url,
        }


_KINDS: dict[str, EventKind] = {}


def declare(kind: str, label: str, description: str = "") -> EventKind:
    """Make an event kind known (rules offer the declared kinds); declaring again replaces the label."""
    if not kind or "." not in kind:
        raise ValueError(f"an event kind is 'app.name', not {kind!r}")
    entry = EventKind(kind=kind, label=label, description=description)
    _KINDS[kind] = entry
    return entry


def kinds() -> dict[str, EventKind]:
    return dict(sorted(_KINDS.items()))


def choices() -> list[tuple[str, str]]:
    return [(entry.kind, entry.label) for entry in kinds().values()]


def _clean_emails(emails: object) -> list[str]:
    if isinstance(emails, str):
        emails = emails.replace(";", ",").split(",")
    if not isinstance(emails, list | tuple | set):
        return []
    return sorted({str(e).strip() for e in emails if isinstance(e, str) and "@" in e and len(e) <= 254})


def emit(
    kind: str,
    key: str,
    title: str,
    *,
    lines: list[str] | tuple[str, ...] = (),
    count: int | None = None,
    site: str = "",
    emails: object = (),
    url: str = "",
) -> Event:
    """Tell the listeners that `key` failed; returns the event. Unknown kinds are declared on the fly."""
    if kind not in _KINDS:
        declare(kind, kind)
    lines = [str(line)[:2000] for line in list(lines)[:MAX_LINES]]
    event = Event(
        kind=kind,
        key=str(key)[:200],
        title=str(title)[:500],
        lines=lines,
        count=count if count is not None else max(len(lines), 1),
        site=site or "",
        emails=_clean_emails(emails),
        url=url or "",
    )
    _send(raised, kind, {"event": event})
    return event


def resolve(kind: str, key: str, *, title: str = "") -> None:
    """Tell the listeners that `key` works again (a no-op when nothing was open for it)."""
    _send(resolved, kind, {"kind": kind, "key": str(key)[:200], "title": title})


def _send(signal: Signal, sender: str, kwargs: dict) -> None:
    for receiver, result in signal.send_robust(sender=sender, **kwargs):
        if isinstance(result, Exception):
            logger.error("event %s: receiver %r failed: %s", sender, receiver, result, exc_info=result)
