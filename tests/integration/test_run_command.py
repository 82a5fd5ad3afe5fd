"""The README's first command serves the site: run it for real, see the home page answer over HTTP."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import free_port, process_group_alive, stop_process_group

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^\s*\$ (.+)$", text, flags=re.MULTILINE)


def test_readme_has_exactly_the_two_setup_commands():
    assert readme_commands()[:2] == ["make run", "make test"]


def manage(env: dict, code: str) -> str:
    proc = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "manage.py", "shell", "--no-imports", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip()


def assert_worker_runs_queued_task(env: dict) -> None:
    """Queue a task through the database broker; the worker started by the run command must execute it."""
    task_id = manage(env, "from django_q.tasks import async_task; print(async_task('math.floor', 4.5))")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if manage(env, f"from django_q.tasks import result; print(result({task_id!r}))") == "4":
            return
        time.sleep(1)
    raise AssertionError("the worker did not run the queued task within 60 s")


def assert_stops_without_orphans(proc: subprocess.Popen, env: dict) -> None:
    """SIGTERM to `make` alone, with a task running: the web server and every worker process exit within 30 s."""
    manage(env, "from django_q.tasks import async_task; async_task('time.sleep', 600)")
    time.sleep(3)  # the worker (polling every second) has taken the task
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=40)
    while process_group_alive(proc.pid) and time.monotonic() - started < 30:
        time.sleep(0.2)
    leftovers = subprocess.run(["ps", "-o", "pid,args", "-g", str(proc.pid)], capture_output=True, text=True).stdout
    assert not process_group_alive(proc.pid), f"processes left running 30 s after SIGTERM:\n{leftovers}"


def assert_default_schedules_and_listener(proc: subprocess.Popen, env: dict) -> None:
    """The first run made the default schedules; the Syncthing listener runs as its own process."""
    import psutil

    names = manage(
        env, "from django_q.models import Schedule; print(sorted(Schedule.objects.values_list('name', flat=True)))"
    )
    for name in ("Syncthing refresh", "Health checks and notification digests", "Stale-host report"):
        assert name in names
    commands = [" ".join(child.cmdline()) for child in psutil.Process(proc.pid).children(recursive=True)]
    assert any("syncthing-listener" in command for command in commands), commands


def test_run_command_serves_home_and_admin(tmp_path):
    port = free_port()
    env = {**os.environ, "PORT": str(port), "SYNCSITE_VAR_DIR": str(tmp_path), "ADMIN_PASSWORD": "first-admin-pw-1"}
    env.pop("DATABASE_URL", None)  # the embedded SQLite default, in the test's own folder
    env.pop("REDIS_URL", None)
    command = readme_commands()[0]
    proc = subprocess.Popen(
        command.split(), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        response = None
        while time.monotonic() < deadline:
            try:
                response = requests.get(base + "/", allow_redirects=False, timeout=30)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert proc.poll() is None, proc.stdout.read().decode(errors="replace")
                time.sleep(0.5)
        assert response is not None, "the site never answered"
        assert response.status_code in (200, 302)
        session = requests.Session()
        login = session.get(base + "/admin/login/", timeout=30)
        assert login.status_code == 200
        css = session.get(base + "/static/admin/css/base.css", timeout=30)
        assert css.status_code == 200
        signed_in = session.post(
            base + "/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": "first-admin-pw-1",
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": base + "/admin/login/"},
            timeout=30,
        )
        assert signed_in.status_code == 200
        assert "Syncsite administration" in signed_in.text  # the admin site's header
        assert session.get(base + "/", timeout=30).status_code == 200
        assert_worker_runs_queued_task(env)
        assert_default_schedules_and_listener(proc, env)
        assert_stops_without_orphans(proc, env)
    finally:
        stop_process_group(proc)
