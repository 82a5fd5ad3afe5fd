"""Cronjobs: functions plugins register by name, run by django-q2 schedules, one run at a time per job.

A schedule made in the admin (Hosts -> Cronjob schedules) stores func="hosts.tasks.run_cronjob" and
kwargs {"job": name, "account": account-or-None}. The run takes a database lock (a unique row per
job), so two workers never run the same job at once; each run is recorded as a CronjobRun with its
captured output and, on failure, the traceback.
"""

from __future__ import annotations

import contextlib
import io
import logging
import traceback
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from hosts import conf
from syncsite.redact import scrub

logger = logging.getLogger(__name__)

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register_cronjob(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Offer `func` as a schedulable job called `name`; it is called as func() or func(account=<name>)."""
    if not name or not callable(func):
        raise ValueError("register_cronjob needs a name and a callable")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not func and _qualname(existing) != _qualname(func):
        raise ValueError(f"a different cronjob is already registered as {name!r}: {_qualname(existing)}")
    _REGISTRY[name] = func
    return func


def unregister_cronjob(name: str) -> None:
    _REGISTRY.pop(name, None)


def registered_cronjobs() -> dict[str, Callable[..., Any]]:
    return dict(sorted(_REGISTRY.items()))


def _qualname(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


# --- the lock ------------------------------------------------------------------------------------------------


def acquire_lock(job: str) -> str | None:
    """A holder token when this process now owns the job's lock, None when another run holds it."""
    from hosts.models import CronjobLock

    token = uuid.uuid4().hex
    now = timezone.now()
    try:
        with transaction.atomic():
            CronjobLock.objects.create(job=job, holder=token, acquired=now)
        return token
    except IntegrityError:
        pass
    # A lock older than the timeout belongs to a worker that died: take it over atomically.
    stale_before = now - timedelta(seconds=conf.cronjob_lock_timeout())
    taken = CronjobLock.objects.filter(job=job, acquired__lt=stale_before).update(holder=token, acquired=now)
    if taken:
        logger.warning("cronjob %s: took over a lock abandoned since before %s", job, stale_before)
        return token
    return None


def release_lock(job: str, token: str) -> None:
    from hosts.models import CronjobLock

    CronjobLock.objects.filter(job=job, holder=token).delete()


# --- running -------------------------------------------------------------------------------------------------


class _ListHandler(logging.Handler):
    def __init__(self, stream: io.StringIO):
        super().__init__(logging.INFO)
        self.stream = stream
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream.write(self.format(record) + "\n")


class CronjobNotFound(LookupError):
    pass


def run_cronjob(job: str, account: str | None = None) -> Any:
    """Run a registered job under its lock and record the run; re-raises the job's exception."""
    from hosts.models import CronjobRun
    from hosts.services import account_secret_values

    func = _REGISTRY.get(job)
    if func is None:
        CronjobRun.objects.create(
            job=job,
            account=account or "",
            status=CronjobRun.FAILED,
            ended=timezone.now(),
            traceback=f"no cronjob named {job!r} is registered",
        )
        raise CronjobNotFound(f"no cronjob named {job!r} is registered (known: {', '.join(_REGISTRY) or 'none'})")
    token = acquire_lock(job)
    if token is None:
        CronjobRun.objects.create(
            job=job,
            account=account or "",
            status=CronjobRun.SKIPPED,
            ended=timezone.now(),
            log="another run of this job is still running",
        )
        logger.info("cronjob %s skipped: another run holds the lock", job)
        return None
    run = CronjobRun.objects.create(job=job, account=account or "", status=CronjobRun.RUNNING)
    output = io.StringIO()
    handler = _ListHandler(output)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with contextlib.redirect_stdout(output):
            result = func(account=account) if account else func()
    except BaseException:
        run.status = CronjobRun.FAILED
        run.traceback = traceback.format_exc()
        raise
    else:
        run.status = CronjobRun.SUCCESS
        return result
    finally:
        root.removeHandler(handler)
        known = account_secret_values(account)  # what the job printed or raised may quote its account's secrets
        run.log = scrub(output.getvalue(), known)
        run.traceback = scrub(run.traceback, known)
        run.ended = timezone.now()
        run.save(update_fields=["status", "traceback", "log", "ended"])
        release_lock(job, token)
