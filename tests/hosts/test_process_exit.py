"""The run log of a plugin is written when the process exits, even if the plugin never called save_log."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
from syncerapi.v1.core import Plugin

class Exiting(Plugin):
    name = "exits without saving"
    source = "exit_test"

plugin = Exiting()
plugin.log_details.append(("hosts_seen", 3))
plugin.log_details.append(("error", "one host failed"))
"""


@pytest.mark.integration
def test_pending_run_log_is_written_at_process_exit(tmp_path):
    database = tmp_path / "exit.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "SYNCSITE_VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--verbosity", "0"], env=env, check=True, cwd=ROOT, timeout=240)
    result = subprocess.run(
        [*manage, "shell", "-c", SCRIPT], env=env, cwd=ROOT, timeout=120, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT source, name, has_error, details FROM hosts_logentry").fetchall()
    assert len(rows) == 1
    source, name, has_error, details = rows[0]
    assert (source, name, has_error) == ("exit_test", "exits without saving", 1)
    assert '["hosts_seen", 3]' in details
