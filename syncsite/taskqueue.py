"""What makes the task queue safe with several clusters: delivery leases renewed at start, and task leases.

Delivery (django-q2's database broker): a cluster takes a task by moving its queue row's `lock` to now +
Q_CLUSTER["retry"]; the row is deleted (acknowledged) once the task has finished, and another cluster takes it
again when the lock has passed. `renew_delivery` moves the lock again when a worker actually starts the task,
so the retry delay counts from the start, not from when the cluster took the task ahead of time: a task is
handed out again only if its worker is gone (killed cluster) or was stopped at its timeout.

Task leases: a job that must not run twice at once (a long pull, an event listener) runs under a `lease` named
after it; a second run skips while the first holds it. A lease expires after the queue's timeout, when the
worker holding it has been stopped, so a killed worker's lease does not block the job for ever.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# Beyond the timeout, django-q2's guard may take a few seconds to stop a worker whose alarm did not fire.
LEASE_SLACK_SECONDS = 5


def queue_timeout() -> int:
    """Seconds a task may run before its worker is stopped (Q_CLUSTER["timeout"])."""
    return int(getattr(settings, "Q_CLUSTER", {}).get("timeout") or 3600)


def renew_delivery(sender: Any, func: Any = None, task: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """django-q2 `pre_execute` receiver: the database broker hands the task out again `retry` s after it started."""
    from django_q.conf import Conf

    ack_id = (task or {}).get("ack_id")
    if not ack_id or not Conf.ORM:
        return
    from django_q.models import OrmQ

    try:
        OrmQ.objects.using(Conf.ORM).filter(pk=ack_id).update(lock=timezone.now() + timedelta(seconds=Conf.RETRY))
    except Exception:  # the task must still run: the lock it was taken with holds until `retry` after that
        logger.exception("could not renew the delivery lock of task %s", (task or {}).get("name"))


# --- task leases -------------------------------------------------------------------------------------------------


def acquire(name: str, seconds: float | None = None) -> str | None:
    """A holder token when this process now holds the lease `name`, None while another live holder has it."""
    from syncsite.models import TaskLease

    token = uuid.uuid4().hex
    now = timezone.now()
    expires = now + timedelta(seconds=seconds if seconds is not None else queue_timeout() + LEASE_SLACK_SECONDS)
    try:
        with transaction.atomic():
            TaskLease.objects.create(name=name, holder=token, acquired=now, expires=expires)
        return token
    except IntegrityError:
        pass
    # an expired lease belongs to a worker that was stopped or killed: take it over, atomically
    taken = TaskLease.objects.filter(name=name, expires__lt=now).update(holder=token, acquired=now, expires=expires)
    if taken:
        logger.warning("task lease %s: took over a lease that had expired", name)
        return token
    return None


def release(name: str, token: str) -> None:
    """Give the lease back (only if this holder still has it)."""
    from syncsite.models import TaskLease

    TaskLease.objects.filter(name=name, holder=token).delete()


@contextlib.contextmanager
def lease(name: str, seconds: float | None = None) -> Iterator[str | None]:
    """Hold the lease `name` for the block; yields None (and holds nothing) when another run holds it."""
    token = acquire(name, seconds)
    try:
        yield token
    finally:
        if token is not None:
            release(name, token)


def lease_name(path: str, key: Any = None) -> str:
    """The lease of a task path, per value of its keying argument when it has one (bounded to the column)."""
    name = path if key in (None, "") else f"{path}:{key}"
    return name[:255]


def run_exclusive(path: str, key: Any, *args: Any, **kwargs: Any) -> Any:
    """Run the registered task at `path` under its lease; a run that finds the lease held is skipped.

    The scheduler's guard (`syncsite.schedules.guard_enqueued_task`) enqueues this in place of a task
    registered as exclusive, so every way of queuing the task (schedules, code, the admin) is covered.
    """
    from syncsite.schedules import get_task

    get_task(path)  # still registered (the allow-list is checked again where it runs)
    name = lease_name(path, key)
    with lease(name) as token:
        if token is None:
            logger.info("%s skipped: another run holds its lease %s", path, name)
            return {"skipped": f"another run of {name} is still running"}
        return import_string(path)(*args, **kwargs)
