"""A real `manage.py qcluster` stops within 30 s of SIGTERM, and the task it interrupts runs again, once, later."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import process_group_alive, stop_process_group

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def cluster_env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "SYNCSITE_VAR_DIR": str(tmp_path),
        "Q_WORKERS": "2",  # with one worker a task taken ahead may wait a timeout: Q_RETRY would have to double
        "Q_TIMEOUT": "8",
        "Q_RETRY": "9",  # the interrupted task is delivered again 9 s after it was taken
        "Q_STOP_GRACE": "1",
        "Q_STOP_TIMEOUT": "20",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    if "DATABASE_URL" in env:  # the test's own PostgreSQL database, created from the live test database name
        from django.db import connection

        env["DATABASE_URL"] = env["DATABASE_URL"].rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"]
    return env


def manage(env: dict[str, str], *args: str, code: str | None = None) -> str:
    command = [sys.executable, "manage.py", *args]
    if code is not None:
        command += ["shell", "--no-imports", "-c", code]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def start_cluster(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stop(proc: subprocess.Popen, log: Path) -> float:
    """SIGTERM the cluster's main process only (as a service manager does); seconds until it exited."""
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError("qcluster was still running 30 s after SIGTERM:\n" + log.read_text()[-3000:]) from None
    return time.monotonic() - started


@pytest.mark.django_db(transaction=True)
def test_sigterm_stops_the_cluster_and_the_interrupted_task_runs_again_once(tmp_path):
    env = cluster_env(tmp_path)
    if "DATABASE_URL" not in env:
        manage(env, "migrate", "--noinput", "-v", "0")
    log = tmp_path / "qcluster.log"
    runs = tmp_path / "runs.txt"
    first = start_cluster(env, log)
    try:
        task_id = manage(
            env,
            code="from django_q.tasks import async_task; "
            f"print(async_task('tests.integration.worker_tasks.record_and_sleep', {str(runs)!r}, 4))",
        )
        wait_for(lambda: runs.exists() and "start" in runs.read_text(), 60, "the task to start")
        assert stop(first, log) < 30
        assert runs.read_text().count("done") == 0, "the task was not interrupted"
        wait_for(lambda: not process_group_alive(first.pid), 5, "every process of the first cluster to exit")
    finally:
        stop_process_group(first)

    second = start_cluster(env, log)
    try:
        done = "from django_q.models import Task; print(Task.objects.filter(id={!r}, success=True).count())"
        wait_for(lambda: manage(env, code=done.format(task_id)) == "1", 90, "the task to run again")
        assert stop(second, log) < 30
        wait_for(lambda: not process_group_alive(second.pid), 5, "every process of the second cluster to exit")
    finally:
        stop_process_group(second)
    lines = runs.read_text().splitlines()
    assert lines.count("done") == 1 and len([line for line in lines if line.startswith("start")]) == 2, lines
    count = "from django_q.models import OrmQ, Task; print(Task.objects.filter(id={!r}).count(), OrmQ.objects.count())"
    assert manage(env, code=count.format(task_id)) == "1 0"
    assert "interrupted" in log.read_text()
