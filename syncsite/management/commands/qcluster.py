"""`manage.py qcluster` with a bounded stop: it exits within Q_STOP_TIMEOUT seconds of SIGTERM or SIGINT.

django-q2's own cluster waits, on a stop signal, for every running task to finish (an hour with the
default timeout), so `make run` and service managers left it running. Here busy workers get
Q_STOP_GRACE seconds to finish, then they are interrupted; the task they ran stays un-acknowledged in
the database broker, which delivers it again Q_CLUSTER["retry"] seconds after it started, so it is not lost
(tasks must tolerate being run again from the start; the Redis broker loses it: docs/scaling.md). If the
cluster still has not stopped by Q_STOP_TIMEOUT, its remaining processes are killed.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from typing import Any

import psutil
from django.conf import settings
from django_q import cluster
from django_q.management.commands.qcluster import Command as DjangoQCommand

logger = logging.getLogger("django-q")


def stop_grace() -> float:
    return float(getattr(settings, "Q_STOP_GRACE", 10))


def stop_timeout() -> float:
    return float(getattr(settings, "Q_STOP_TIMEOUT", 25))


class BoundedSentinel(cluster.Sentinel):
    """django-q2's sentinel, whose stop interrupts the workers still busy after the grace period."""

    def stop(self) -> None:
        stopped = threading.Event()
        watchdog = threading.Thread(target=self._interrupt_workers_after_grace, args=(stopped,), daemon=True)
        watchdog.start()
        try:
            super().stop()
        finally:
            stopped.set()

    def _interrupt_workers_after_grace(self, stopped: threading.Event) -> None:
        if stopped.wait(stop_grace()):
            return
        for process in list(self.pool):
            if process.is_alive():
                logger.warning(
                    "%s still busy %ss after the stop signal: interrupted; its task runs again after the retry delay",
                    process.name,
                    stop_grace(),
                )
                process.terminate()


class BoundedCluster(cluster.Cluster):
    """A cluster that starts a BoundedSentinel and stops within stop_timeout() seconds, whatever its tasks do."""

    def start(self) -> int:
        self.stop_event = cluster.Event()
        self.start_event = cluster.Event()
        self.sentinel = cluster.get_mp_context().Process(
            target=BoundedSentinel,
            name=f"Process-{uuid.uuid4().hex}",
            args=(self.stop_event, self.start_event, self.cluster_id, self.broker, self.timeout),
        )
        self.sentinel.start()
        logger.info("Q Cluster %s starting.", self.name)
        # poll rather than wait(): a stop signal may arrive while the sentinel starts (as in django-q2)
        while self.start_event and not self.start_event.is_set():
            if not self.sentinel.is_alive():
                if self.sentinel.exitcode == 0:
                    break
                raise RuntimeError(
                    f"Q Cluster {self.name} failed to start: sentinel exited with {self.sentinel.exitcode}"
                )
            time.sleep(0.1)
        return self.pid

    def stop(self) -> bool:
        if self.sentinel is None or not self.sentinel.is_alive() or self.stop_event is None:
            return False
        if self.stop_event.is_set():  # a second signal while stopping: the first one's deadline holds
            return False
        logger.info("Q Cluster %s stopping (at most %ss).", self.name, stop_timeout())
        try:
            tree = psutil.Process(self.sentinel.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        self.stop_event.set()
        self.sentinel.join(stop_timeout())
        if self.sentinel.is_alive():
            logger.error("Q Cluster %s did not stop within %ss: killing its processes", self.name, stop_timeout())
            self.sentinel.kill()
            self.sentinel.join(5)
        for process in tree:
            try:
                process.kill()
            except psutil.Error:
                continue
        logger.info("Q Cluster %s has stopped.", self.name)
        return True

    def wait(self) -> None:
        """Block until the cluster has stopped (signals are handled meanwhile)."""
        while self.sentinel is not None and self.sentinel.is_alive():
            self.sentinel.join(0.5)


class Command(DjangoQCommand):
    help = "Starts the task cluster; it stops within Q_STOP_TIMEOUT seconds of SIGTERM or SIGINT."

    def handle(self, *args: Any, **options: Any) -> None:
        settings.SECRET_KEY  # noqa: B018 - as django-q2: signing needs it, fail before starting
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        if "redis" in settings.Q_CLUSTER:
            logger.warning(
                "the task broker is Redis: a task a killed cluster held is lost (at-most-once); "
                "leave REDIS_URL unset for the database broker's at-least-once delivery (docs/scaling.md)"
            )
        q = BoundedCluster()
        q.start()
        beating = threading.Event()
        threading.Thread(target=_heartbeat, args=(q, beating), name="qcluster-heartbeat", daemon=True).start()
        try:
            if options.get("run_once", False):
                q.stop()
            q.wait()
        finally:
            beating.set()


def heartbeat_seconds() -> float:
    return float(getattr(settings, "Q_HEARTBEAT_SECONDS", 15))


def _heartbeat(q: BoundedCluster, stop: threading.Event) -> None:
    """Keep a `worker:<cluster name>` row fresh while the sentinel lives: /readyz reads it (no shared cache)."""
    from django.db import close_old_connections, connection

    from syncsite import heartbeats

    key = f"worker:{q.name}"
    try:
        while not stop.is_set() and q.sentinel is not None and q.sentinel.is_alive():
            close_old_connections()
            heartbeats.beat(key, summary=f"pid {os.getpid()}, {settings.Q_CLUSTER.get('workers', '?')} workers")
            stop.wait(heartbeat_seconds())
    finally:
        connection.close()
