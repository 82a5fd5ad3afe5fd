"""A pull killed in the middle of its reply never leaves its run "running".

The pull runs as a real `manage.py synctools_pull` process of the source site (its settings and database)
against a server that sends part of a reply and then stalls, so the process is caught inside the transfer.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.synctools.conftest import ROOT

pytestmark = [pytest.mark.integration]

PARTIAL = b"[" + b", ".join(
    b'{"model": "synctools_testapp.tag", "pk": %d, "fields": {"name": "tag %d"}}' % (i, i) for i in range(1, 3000)
)


class Stalling(ThreadingHTTPServer):
    """`/stall` sends the head of a fixture and then nothing until closed; `/fine` sends a complete empty one."""

    daemon_threads = True

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(handler):
                complete = handler.path.startswith("/fine")
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.end_headers()
                if complete:
                    handler.wfile.write(b"[]")
                    return
                handler.wfile.write(PARTIAL)
                handler.wfile.flush()
                self.started.set()
                self.release.wait(120)

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.base = f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Stalling:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


def pull(source, url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "synctools_pull", url, "--token", "t", "-v", "0"],
        cwd=ROOT,
        env=source.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def runs(source, url: str) -> list[list]:
    return [run for run in source.run("sync_runs") if run[0] == url]


def killed_mid_stream(source, server: Stalling, signum: int) -> list[list]:
    url = f"{server.base}/stall/{signum}"
    proc = pull(source, url)
    try:
        assert server.started.wait(60), proc.stderr.read() if proc.poll() is not None else "no request came"
        deadline = time.monotonic() + 30
        while not runs(source, url):  # the run row is written before the request goes out
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(0.5)  # inside the transfer: the head of the reply is being applied or waited on
        assert runs(source, url)[0][1] == "running"
        proc.send_signal(signum)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        server.started.clear()
    return runs(source, url)


def test_sigterm_marks_the_run_failed_and_applies_nothing(source):
    with Stalling() as server:
        history = killed_mid_stream(source, server, signal.SIGTERM)
    assert len(history) == 1
    _, outcome, error = history[0]
    assert outcome == "failed" and "SIGTERM" in error
    assert source.run("counts")["tag"] == 0


def test_sigkill_leaves_the_run_to_the_next_pull_which_marks_it_failed(source):
    with Stalling() as server:
        history = killed_mid_stream(source, server, signal.SIGKILL)
        assert [run[1] for run in history] == ["running"]  # nothing could run in the killed process
        stalled_url = history[0][0]
        again = pull(source, f"{server.base}/fine")
        _, err = again.communicate(timeout=120)
        assert again.returncode == 0, err
    _, outcome, error = runs(source, stalled_url)[0]
    assert outcome == "failed" and error.startswith("abandoned:")
    assert source.run("counts")["tag"] == 0


@pytest.mark.django_db(transaction=True)
def test_an_interruption_inside_the_pull_marks_the_run_failed():
    from synctools.client import Client
    from synctools.models import SyncRun
    from tests.synctools.test_compat import Fixed
    from tests.synctools.testapp.models import Tag

    def interrupt(rows: int) -> None:
        raise KeyboardInterrupt

    with Fixed(PARTIAL + b"]") as url, pytest.raises(KeyboardInterrupt):
        Client(api_token="").sync(url, progress=interrupt)
    run = SyncRun.objects.get()
    assert run.outcome == SyncRun.FAILED and "KeyboardInterrupt" in run.error
    assert run.state.last_outcome == SyncRun.FAILED
    assert not Tag.objects.exists()
