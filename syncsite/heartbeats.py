"""Heartbeats kept in the database: who ran last and how it went (agents from cron, queue workers, commands).

There is no shared cache between the web processes, the workers and cron, so "is it alive" is a row:
`beat("worker:<cluster>")` refreshes it, `/readyz` and the dashboard read it.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone

from syncsite.models import Heartbeat


def beat(key: str, *, ok: bool = True, summary: str = "") -> None:
    """Record that `key` ran now (and whether its work succeeded)."""
    now = timezone.now()
    defaults = {"last_seen": now, "ok": ok, "summary": summary[:1000]}
    if ok:
        defaults["last_ok"] = now
    try:
        Heartbeat.objects.update_or_create(key=key[:200], defaults=defaults)
    except DatabaseError:  # a heartbeat must never take down what it reports on
        import logging

        logging.getLogger(__name__).warning("heartbeat %s not recorded", key, exc_info=True)


def get(key: str) -> Heartbeat | None:
    return Heartbeat.objects.filter(key=key).first()


def fresh(prefix: str, within: timedelta) -> list[Heartbeat]:
    """Heartbeats whose key starts with `prefix` and that beat within `within`."""
    return list(Heartbeat.objects.filter(key__startswith=prefix, last_seen__gte=timezone.now() - within))


def stale(prefix: str, older_than: timedelta) -> list[Heartbeat]:
    return list(
        Heartbeat.objects.filter(key__startswith=prefix, last_seen__lt=timezone.now() - older_than).order_by("key")
    )


def all_beats(prefix: str = "") -> list[Heartbeat]:
    return list(Heartbeat.objects.filter(key__startswith=prefix).order_by("key"))
