"""Task throughput of the database-broker queue with one `qcluster` against two, in the same run.

    .venv/bin/python bench/bench_scale_out.py [--quick] [--tasks 400] [--noop-tasks 1000] [--seconds 0.25]
                                              [--workers 2] [--save-limit 1000]

Real processes on one database (a fresh PostgreSQL database when DATABASE_URL is postgres://, else an SQLite
file): the clusters are started and running before the tasks are queued (in one transaction, so they appear at
once); the time is from the commit until the queue is empty, i.e. every task ran and was acknowledged.
Two workloads, first with one cluster (the baseline), then with a second one joining it (Q_WORKERS each):
- waiting tasks (`time.sleep`, as a pull, an rsync or a Syncthing call waits on the network): throughput grows
  with the number of workers, so two clusters (on one machine here; on two machines in production) double it;
- empty tasks: what the queue itself carries per second (dequeue, run, save the result, acknowledge), bounded
  by the CPUs and the database, not by the workers; with `save_limit` results already kept (`keep_results`).
Prints the load average before and after: on a shared machine the numbers are provisional.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "syncsite_scale_out_bench"


def waiting_task(seconds: float) -> None:
    """The waiting workload: a task that waits on something else (the network) for `seconds`."""
    time.sleep(seconds)


def empty_task() -> None:
    """The empty workload: only the queue's own cost remains."""


def database_url(tmp: Path) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{tmp / 'bench.sqlite3'}"
    import psycopg

    base = url.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    return f"{base}/{BENCH_DB}"


def drop_database(url: str) -> None:
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def cluster_env(tmp: Path, url: str, workers: int) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "syncsite.settings",
        "DATABASE_URL": url,
        "SYNCSITE_VAR_DIR": str(tmp / "var"),
        "Q_WORKERS": str(workers),
        "Q_TIMEOUT": "60",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), str(ROOT)]),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    return env


def start_clusters(count: int, env: dict[str, str], tmp: Path) -> list[tuple[subprocess.Popen, Path]]:
    """Start `count` more clusters and wait until they run."""
    started = []
    for n in range(count):
        log = tmp / f"cluster-{n}-{time.monotonic_ns()}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env={**env, "LOG_LEVEL": "INFO"},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        started.append((proc, log))
    deadline = time.monotonic() + 120
    while not all(re.search(r"Q Cluster \S+ \[\S+\] running", log.read_text()) for _p, log in started):
        if time.monotonic() > deadline or any(proc.poll() is not None for proc, _l in started):
            stop_clusters(started)
            tails = "\n".join(log.read_text()[-2000:] for _p, log in started)
            raise SystemExit(f"the clusters did not start:\n{tails}")
        time.sleep(0.2)
    return started


def stop_clusters(started: list[tuple[subprocess.Popen, Path]]) -> None:
    for proc, _log in started:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(30)
                break
            except subprocess.TimeoutExpired:
                continue


def keep_results(count: int) -> None:
    """Fill the kept results up to django-q2's `save_limit`, as on a site that has run a while.

    Saving a success then costs what it costs in production: the monitor locks and reads the kept successes
    (`Success ... select_for_update()`) to prune the oldest, in one transaction that every cluster waits for.
    """
    import uuid

    from django.utils import timezone
    from django_q.models import Task

    now = timezone.now()
    kept = {"func": "bench_scale_out.empty_task", "started": now, "stopped": now, "success": True}
    Task.objects.bulk_create(Task(id=uuid.uuid4().hex, name=f"kept-{n}", **kept) for n in range(count))


def run(workload: str, tasks: int, seconds: float) -> float:
    """Seconds from queuing `tasks` tasks until the running clusters had run and acknowledged them all."""
    from django.db import transaction
    from django_q.models import OrmQ
    from django_q.tasks import async_task

    with transaction.atomic():
        for _ in range(tasks):
            if workload == "waiting":
                async_task("bench_scale_out.waiting_task", seconds)
            else:
                async_task("bench_scale_out.empty_task")
    begin = time.perf_counter()
    while OrmQ.objects.exists():
        time.sleep(0.05)
    return time.perf_counter() - begin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    parser.add_argument("--tasks", type=int, default=400, help="waiting tasks per run")
    parser.add_argument("--noop-tasks", type=int, default=1000, help="empty tasks per run")
    parser.add_argument("--seconds", type=float, default=0.25, help="how long a waiting task waits")
    parser.add_argument("--workers", type=int, default=2, help="Q_WORKERS of each cluster")
    parser.add_argument("--save-limit", type=int, default=None, help="Q_SAVE_LIMIT (default: the site's setting)")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.noop_tasks = 60, 150

    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory(prefix="bench-scale-out-") as name:
        tmp = Path(name)
        url = database_url(tmp)
        env = cluster_env(tmp, url, args.workers)
        if args.save_limit is not None:
            env["Q_SAVE_LIMIT"] = str(args.save_limit)
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        for key in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "SYNCSITE_VAR_DIR", "LOG_LEVEL", "Q_SAVE_LIMIT"):
            if key in env:
                os.environ[key] = env[key]
        os.environ.pop("REDIS_URL", None)
        sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
        import django

        django.setup()
        from django.conf import settings
        from django.db import connection

        save_limit = settings.Q_CLUSTER["save_limit"]
        keep_results(save_limit)
        print(f"database: {connection.vendor}; {args.workers} workers per cluster; {save_limit} results kept")
        workloads = [("waiting", args.tasks), ("empty", args.noop_tasks)]
        times: dict[tuple[str, int], float] = {}
        started: list[tuple[subprocess.Popen, Path]] = []
        try:
            for clusters in (1, 2):  # the second cluster joins the first: the baseline runs first, in the same run
                started += start_clusters(clusters - len(started), env, tmp)
                for workload, tasks in workloads:
                    times[workload, clusters] = run(workload, tasks, args.seconds)
            for workload, tasks in workloads:
                what = f"{tasks} {workload} tasks" + (f" of {args.seconds}s" if workload == "waiting" else "")
                one, two = times[workload, 1], times[workload, 2]
                print(f"baseline 1 cluster: {what} in {one:.2f}s = {tasks / one:.1f} tasks/s")
                print(f"2 clusters: {what} in {two:.2f}s = {tasks / two:.1f} tasks/s")
                print(f"RATIO {workload}: 2 clusters / 1 cluster throughput = {one / two:.2f}x")
        finally:
            stop_clusters(started)
            connection.close()
            drop_database(url)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
