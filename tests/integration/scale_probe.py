"""Cronjobs the scale-out test loads into every process (SYNCSITE_PLUGINS); each records its runs in a table.

A run writes a `start` row, sleeps, then a `done` row, with the name of the cluster that ran it
(SCALE_PROBE_CLUSTER, set per `qcluster` process) and the database's clock, so the test can count runs and
completions per job and per cluster, and check that runs of one job never overlap.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from django.db import connection

from hosts.cronjobs import register_cronjob

TABLE = "scale_probe_run"
SPREAD_JOBS = [f"scale probe {n}" for n in range(8)]
SCHEDULED_JOBS = [f"scale schedule {n}" for n in range(4)]
RACED_JOBS = [f"scale race {n}" for n in range(6)]
LONG_JOB = "scale long job"
SLOW_JOB = "scale slow job"
SECONDS = {
    **dict.fromkeys(SPREAD_JOBS, 1.5),  # long enough that one cluster cannot take them all (it takes 4 at most)
    **dict.fromkeys(SCHEDULED_JOBS, 0.2),
    **dict.fromkeys(RACED_JOBS, 0.2),
    LONG_JOB: 3.0,
    SLOW_JOB: 3.0,
}
CREATE_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} "
    "(id bigserial PRIMARY KEY, job text NOT NULL, cluster text NOT NULL, pid integer NOT NULL, "
    "event text NOT NULL, at timestamptz NOT NULL)"
)


def record(job: str, event: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {TABLE} (job, cluster, pid, event, at) VALUES (%s, %s, %s, %s, clock_timestamp())",  # noqa: S608
            [job, os.environ.get("SCALE_PROBE_CLUSTER", "?"), os.getpid(), event],
        )


def _probe(job: str, seconds: float) -> Callable[[], str]:
    def run() -> str:
        record(job, "start")
        time.sleep(seconds)
        record(job, "done")
        return job

    run.__qualname__ = f"probe[{job}]"
    return run


if "SCALE_PROBE_CLUSTER" in os.environ:  # the test's servers and clusters; not the test process's own registry
    for _job, _seconds in SECONDS.items():
        register_cronjob(_job, _probe(_job, _seconds))
