"""Run bookkeeping of a pull: SIGTERM turned into an exception while pulling, and a failed run recorded."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from synctools import services
from synctools.errors import SyncError
from synctools.models import SyncRun

logger = logging.getLogger("synctools.client")


class Terminated(SystemExit):
    """SIGTERM arrived during a pull: raised in the pulling thread so the run is marked failed, then exits."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """While pulling, SIGTERM raises `Terminated` instead of killing the process on the spot.

    Only where SIGTERM still has its default action and only in the main thread (signal handlers live there):
    a host process that handles SIGTERM itself (a worker pool, a web server) keeps its own handling.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        raise Terminated(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def describe(error: BaseException) -> str:
    if isinstance(error, Terminated):
        return "terminated by SIGTERM during the pull; nothing was applied"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted (KeyboardInterrupt) during the pull; nothing was applied"
    if isinstance(error, SyncError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def mark_failed(run: SyncRun, error: str, *, files: int) -> None:
    """Record the failure; the pull's own transaction is already rolled back, so this write stands alone.

    An interruption can leave the database connection unusable mid-statement: then it is replaced by a new one.
    """
    try:
        services.finish_run(run, outcome=SyncRun.FAILED, files=files, error=error)
        return
    except DatabaseError:
        connection = connections[DEFAULT_DB_ALIAS]
        if connection.in_atomic_block:
            raise  # the caller's transaction owns the connection (and the run row with it)
        logger.warning("marking the failed run %s: reconnecting", run.pk, exc_info=True)
        connection.close()
    services.finish_run(run, outcome=SyncRun.FAILED, files=files, error=error)
