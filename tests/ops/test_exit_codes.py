"""Commands as cron and people run them: real processes, exit codes, summary lines, --no-color."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import free_port
from tests.ops.test_backup import ROOT, _env, _manage

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=200
    )


def test_a_failed_agent_round_exits_non_zero_with_a_summary_line(tmp_path, fresh_var):
    env = _env(fresh_var, None)
    env.pop("NO_COLOR")
    origin = tmp_path / "a"
    (origin / "p").mkdir(parents=True)
    (origin / "p" / "f.txt").write_text("data")
    _manage(
        env,
        "shell",
        "-c",
        "from tracker import services;"
        f"services.create_volume('A', url='{origin}', enableReception=False);"
        f"services.create_volume('B', url='ssh://nobody@127.0.0.1:{free_port()}/r');"
        "services.publish('/p/f.txt', origin='A', author='alice')",
    )
    done = _run(env, "tracker_agent", "--site", "B", "--once", "--no-color")
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        "CommandError: tracker_agent B: 0 synced, 1 failed (reception 0/1, emission 0/0, scan 0 new)"
    )
    assert "\x1b[" not in done.stderr  # --no-color: plain text
    done = _run(env, "tracker_agent", "--site", "A", "--once")
    assert done.returncode == 0 and "tracker_agent A: 0 synced, 0 failed" in done.stderr
    assert _run(env, "tracker_agent", "--site", "nowhere", "--once").returncode == 1
    # the click command line takes --no-color too
    assert _run(env, "syncer", "--no-color", "--help").returncode == 0


def _on_a_terminal(env: dict[str, str], *args: str) -> str:
    """Run a command with stdout and stderr on a pseudo-terminal (where colour is allowed); its output."""
    import os
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, stdout=follower, stderr=follower, close_fds=True
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


def test_colour_only_without_no_color(fresh_var):
    env = _env(fresh_var, None)
    env.pop("NO_COLOR")
    env["TERM"] = "xterm"
    assert "\x1b[" in _on_a_terminal(env, "migrate", "--noinput")  # a terminal: Django's styles
    assert "\x1b[" not in _on_a_terminal(env, "migrate", "--noinput", "--no-color")
    env["NO_COLOR"] = "1"
    assert "\x1b[" not in _on_a_terminal(env, "migrate", "--noinput")
