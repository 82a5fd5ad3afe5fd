"""/readyz follows a real `manage.py qcluster`: ready while its heartbeat row is fresh, 503 once it stopped."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.conftest import free_port
from tests.ops.test_backup import ROOT, _env
from tests.parallel import popen_server, stop_process_group

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _readyz(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _wait(condition, timeout: float, what: str, log) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}: {log.read_text()[-3000:]}")


def test_readyz_is_ready_with_a_running_worker_and_not_after_it_stopped(tmp_path, fresh_var):
    env = _env(fresh_var, None)
    env.update(Q_WORKERS="1", Q_HEARTBEAT_SECONDS="1", READYZ_WORKER_SECONDS="3", Q_STOP_GRACE="1", Q_STOP_TIMEOUT="10")
    env.pop("REDIS_URL", None)
    web_home, worker_home = tmp_path / "web", tmp_path / "worker"
    web_home.mkdir()
    worker_home.mkdir()
    port = free_port()
    web = popen_server(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], web_home, cwd=ROOT, env=env
    )
    worker = None
    try:
        _wait(lambda: _readyz(port)[0] == 503, 60, "the site to answer /readyz", web_home / "server.log")
        assert "worker" in _readyz(port)[1]
        worker = popen_server([sys.executable, "manage.py", "qcluster"], worker_home, cwd=ROOT, env=env)
        _wait(lambda: _readyz(port)[0] == 200, 60, "a worker heartbeat", worker_home / "server.log")
        assert _readyz(port)[1]["workers"] == 1
        stop_process_group(worker.pid)
        worker.wait()
        worker = None
        _wait(lambda: _readyz(port)[0] == 503, 20, "the heartbeat to go stale", web_home / "server.log")
    finally:
        for proc in (worker, web):
            if proc is not None:
                stop_process_group(proc.pid)
                proc.wait()
