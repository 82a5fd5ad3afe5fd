"""Scale-out on one PostgreSQL: two `qcluster` processes and two gunicorn servers share nothing else.

Real processes throughout: the web servers queue cronjob runs over HTTP, the clusters run them, and every run
is recorded by the job itself in a table (tests/integration/scale_probe.py). The test shows:
- a schedule runs once per period, with four schedulers racing over the same due schedules (two periods) and
  with the two clusters' own scheduler passes;
- runs of one long job never overlap (the cronjob lock), whichever cluster and web server they came through;
- tasks queued through both web servers are run by both clusters;
- a cluster killed (SIGKILL, every process of it) mid-task loses nothing: the other cluster runs the task again
  after Q_RETRY, and it completes exactly once.

PostgreSQL only: the guarantees rest on its row locks (the scheduler's SELECT ... FOR UPDATE, the broker's
conditional UPDATE) shared by processes on several machines; an SQLite file serves one machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from tests.integration import scale_probe
from tests.parallel import free_port

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT, RETRY = 6, 8  # seconds: a task's time limit; when a task a lost cluster held is handed out again
pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def process_env(tmp_path: Path, name: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SYNCSITE_VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": settings.SECRET_KEY,  # tasks are signed: every process of a site shares the key
        "DATABASE_URL": os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
        "SYNCSITE_PLUGINS": "tests.integration.scale_probe",
        "SCALE_PROBE_CLUSTER": name,
        "Q_WORKERS": "2",
        "Q_TIMEOUT": str(TIMEOUT),
        "Q_RETRY": str(RETRY),
        "Q_STOP_GRACE": "1",
        "Q_STOP_TIMEOUT": "10",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    env.pop("REDIS_URL", None)
    return env


def start(tmp_path: Path, name: str, args: list[str]) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=process_env(tmp_path, name),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def wait_for(condition, timeout: float, what: str, logs: list[Path] = ()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-2500:]}" for log in logs if log.exists())
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


def runs(job: str | None = None) -> list[tuple[str, str, str, object]]:
    """(job, cluster, event, at) rows the probes wrote, oldest first."""
    with connection.cursor() as cursor:
        where, params = ("WHERE job = %s", [job]) if job else ("", [])
        query = f"SELECT job, cluster, event, at FROM {scale_probe.TABLE} {where} ORDER BY at, id"  # noqa: S608
        cursor.execute(query, params)
        return cursor.fetchall()


def events(event: str, jobs: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(jobs, 0)
    for job, _cluster, kind, _at in runs():
        if job in counts and kind == event:
            counts[job] += 1
    return counts


def due_schedules(jobs: list[str], *, ago: float):
    from django_q.models import Schedule

    next_run = timezone.now() - timedelta(seconds=ago)
    return [
        Schedule.objects.update_or_create(
            name=job,
            defaults={
                "func": "hosts.tasks.run_cronjob",
                "kwargs": repr({"job": job}),
                "schedule_type": Schedule.MINUTES,
                "minutes": 1,
                "repeats": -1,
                "next_run": next_run,
            },
        )[0]
        for job in jobs
    ]


def race_schedulers(count: int) -> None:
    """`count` schedulers (django-q2's own, as each cluster runs it) pass over the due schedules at once."""
    from django_q.brokers import get_broker
    from django_q.scheduler import scheduler

    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(10)
            scheduler(broker=get_broker())
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors


@contextlib.contextmanager
def held_rows(schedule_ids: list[int]) -> Iterator[Callable[[], None]]:
    """Hold these schedules' row locks (FOR UPDATE, from another connection) until the yielded function is called."""
    from django_q.models import Schedule

    locked, released = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(Schedule.objects.select_for_update().filter(pk__in=schedule_ids))
                locked.set()
                released.wait(120)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(30), "could not lock the schedules"
        yield released.set
    finally:
        released.set()
        holder.join(30)


def waiting_schedulers() -> int:
    """Other sessions waiting for a row lock on the schedules table (a scheduler pass)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND wait_event_type = 'Lock' AND query ILIKE %s",
            ["%django_q_schedule%FOR UPDATE%"],
        )
        return cursor.fetchone()[0]


def post_run(port: int, token: str, job: str) -> str:
    reply = requests.post(
        f"http://127.0.0.1:{port}/api/v1/cronjobs/",
        json={"job": job},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    return reply.json()["task"]


def overlapping(rows: list[tuple[str, str, str, object]]) -> bool:
    """Whether two runs (start..done of one process) in these rows were ever in progress at the same time."""
    running = 0
    for _job, _cluster, event, _at in rows:
        running += 1 if event == "start" else -1
        if running > 1:
            return True
    return False


@pytest.fixture
def probe_table(require_postgres):
    with connection.cursor() as cursor:
        cursor.execute(scale_probe.CREATE_TABLE)
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {scale_probe.TABLE}")


@pytest.mark.django_db(transaction=True)
def test_two_clusters_and_two_web_servers_share_only_postgresql(tmp_path, probe_table, make_token, monkeypatch):
    from django_q.conf import Conf
    from django_q.models import OrmQ, Task

    from hosts.models import CronjobRun

    if "orm" not in settings.Q_CLUSTER:
        pytest.skip("the test process must use the database broker (REDIS_URL is set)")
    monkeypatch.setattr(Conf, "SYNC", False)  # the racing schedulers queue for the clusters, as theirs do
    token = make_token("scale-operator", staff=True)
    web_ports = [free_port(), free_port()]
    processes: dict[str, tuple[subprocess.Popen, Path]] = {}
    try:
        for name, port in zip(("web-a", "web-b"), web_ports, strict=True):
            gunicorn = ["-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "syncsite.wsgi:application"]
            processes[name] = start(tmp_path, name, gunicorn)
        for name in ("cluster-a", "cluster-b"):
            processes[name] = start(tmp_path, name, ["manage.py", "qcluster"])
        logs = [log for _proc, log in processes.values()]
        running_since: dict[str, float] = {}

        def all_up() -> bool:
            for name in ("cluster-a", "cluster-b"):
                log = processes[name][1].read_text()
                if name not in running_since and re.search(r"Q Cluster \S+ \[\S+\] running", log):
                    running_since[name] = time.monotonic()
            try:
                healthy = all(requests.get(f"http://127.0.0.1:{p}/healthz", timeout=15).ok for p in web_ports)
            except requests.RequestException:
                healthy = False
            return healthy and len(running_since) == 2

        wait_for(all_up, 60, "both web servers and both clusters to start", logs)

        # 1. Four schedulers race over the same due schedules, for two periods: each period runs each job once.
        # The second period is made due once the first period's runs are over, as a minute later: a run of the
        # next period that started while this one still held its job's lock would rightly be skipped.
        raced = scale_probe.RACED_JOBS
        due_schedules(raced, ago=5)
        race_schedulers(4)
        first_period_over = lambda: (  # noqa: E731
            set(events("done", raced).values()) == {1}
            and not CronjobRun.objects.filter(job__in=raced, status=CronjobRun.RUNNING).exists()
        )
        wait_for(first_period_over, 30, "the first period of the raced schedules", logs)
        due_schedules(raced, ago=5)  # the next period is due
        race_schedulers(4)

        # 2. Through both web servers: spread jobs, and a long job asked for three times at once.
        for n, job in enumerate(scale_probe.SPREAD_JOBS):
            post_run(web_ports[n % 2], token, job)
        for n in range(3):
            post_run(web_ports[n % 2], token, scale_probe.LONG_JOB)

        # 3. Schedules the clusters' own scheduler passes (every 30 s of each cluster) find due.
        live = due_schedules(scale_probe.SCHEDULED_JOBS, ago=1)

        spread = scale_probe.SPREAD_JOBS
        wait_for(lambda: all(events("done", spread).values()), 30, "the spread jobs to finish", logs)
        assert set(events("start", spread).values()) == {1}, runs()
        clusters = {cluster for job, cluster, event, _at in runs() if job in spread}
        assert clusters == {"cluster-a", "cluster-b"}, "tasks queued through both web servers ran on one cluster"

        wait_for(lambda: set(events("done", raced).values()) == {2}, 30, "two periods of the raced schedules", logs)
        assert set(events("start", raced).values()) == {2}, runs()

        long_runs = lambda: CronjobRun.objects.filter(job=scale_probe.LONG_JOB).exclude(status=CronjobRun.RUNNING)  # noqa: E731
        wait_for(lambda: long_runs().count() == 3, 30, "the three long job runs to end", logs)
        statuses = sorted(long_runs().values_list("status", flat=True))
        assert CronjobRun.SUCCESS in statuses and set(statuses) <= {CronjobRun.SUCCESS, CronjobRun.SKIPPED}
        long_rows = runs(scale_probe.LONG_JOB)
        assert not overlapping(long_rows), long_rows
        assert events("done", [scale_probe.LONG_JOB])[scale_probe.LONG_JOB] == statuses.count(CronjobRun.SUCCESS)

        # Both clusters' scheduler passes (30 s after each started) meet the due schedules at the same moment:
        # each pass waits for the row locks the test holds, then both go at once. Each schedule runs once.
        scheduled = scale_probe.SCHEDULED_JOBS
        with held_rows([schedule.pk for schedule in live]) as release:
            wait_for(lambda: waiting_schedulers() == 2, 60, "both clusters' schedulers to wait for the schedules", logs)
            release()
        wait_for(lambda: all(events("done", scheduled).values()) and not OrmQ.objects.exists(), 30,
                 "the scheduled jobs to run", logs)  # fmt: skip
        time.sleep(1)  # a second pass that queued them again would have run them by now
        assert set(events("start", scheduled).values()) == {1}, runs()
        for schedule in live:
            schedule.refresh_from_db()
            assert timezone.now() < schedule.next_run <= timezone.now() + timedelta(minutes=1)

        # 4. Kill the cluster that runs the slow job, mid-task: the other one runs it again, to completion, once.
        task_id = post_run(web_ports[1], token, scale_probe.SLOW_JOB)
        first = wait_for(lambda: runs(scale_probe.SLOW_JOB), 20, "the slow job to start", logs)
        killed = first[0][1]
        os.killpg(processes[killed][0].pid, signal.SIGKILL)
        processes[killed][0].wait(10)
        survivor = ({"cluster-a", "cluster-b"} - {killed}).pop()
        wait_for(lambda: events("done", [scale_probe.SLOW_JOB])[scale_probe.SLOW_JOB], RETRY + 20,
                 "the slow job to be run again by the surviving cluster", logs)  # fmt: skip
        slow = [(cluster, event) for _job, cluster, event, _at in runs(scale_probe.SLOW_JOB)]
        assert slow == [(killed, "start"), (survivor, "start"), (survivor, "done")], slow
        wait_for(lambda: Task.objects.filter(id=task_id, success=True).exists(), 10, "the task's result", logs)
        wait_for(lambda: not OrmQ.objects.exists(), 10, "the queue to be empty (every task acknowledged)", logs)
        assert "took over a lock abandoned" in processes[survivor][1].read_text()
    finally:
        for proc, _log in processes.values():  # killed outright: their graceful stops are tested elsewhere
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
