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


def test_a_failed_agent_round_exits_non_zero_with_a_summary_line(tmp_path):
    env = _env(tmp_path / "var", None)
    env.pop("NO_COLOR")
    origin = tmp_path / "a"
    (origin / "p").mkdir(parents=True)
    (origin / "p" / "f.txt").write_text("data")
    _manage(env, "migrate", "--noinput", "-v", "0")
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
