"""`manage.py syncer ...` run as a real process: output on stdout, errors on stderr with a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manage(tmp_path_factory):
    """A migrated throw-away SQLite database and a runner of `manage.py` against it."""
    tmp = tmp_path_factory.mktemp("syncer-cli")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'cli.sqlite3'}",
        "SYNCSITE_VAR_DIR": str(tmp),
        "LOG_LEVEL": "WARNING",
    }
    base = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*base, "migrate", "--verbosity", "0"], env=env, check=True, cwd=ROOT, timeout=240)

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*base, *args], env=env, cwd=ROOT, timeout=120, capture_output=True, text=True)

    return run


@pytest.mark.integration
def test_syncer_list_cronjobs(manage):
    result = manage("syncer", "list-cronjobs")
    assert result.returncode == 0, result.stderr
    assert "Purge old log entries" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_syncer_failing_subcommand_exits_non_zero_with_message(manage):
    result = manage("syncer", "run-cronjob", "no-such-job")
    assert result.returncode != 0
    assert "no-such-job" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.mark.integration
def test_syncer_subcommand_usage_error_goes_to_stderr(manage):
    result = manage("syncer", "run-cronjob")  # the job argument is missing
    assert result.returncode == 2
    assert "Missing argument 'JOB'" in result.stderr  # click's wording
    assert "Traceback" not in result.stderr

    result = manage("syncer", "no-such-command")
    assert result.returncode == 2
    assert "No such command 'no-such-command'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_hosts_is_an_alias_of_syncer_with_clicks_help(manage):
    for command in ("syncer", "hosts"):
        result = manage(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage: manage.py " in result.stdout and "run-cronjob" in result.stdout
        assert "import-csv" in result.stdout and "import_csv" not in result.stdout  # one spelling listed
    result = manage("hosts", "list_cronjobs")  # cmdbsyncer's spelling
    assert result.returncode == 0 and "Purge old log entries" in result.stdout


@pytest.mark.integration
def test_debug_host_is_an_alias_of_debug_rules(manage):
    for name in ("debug-host", "debug_rules", "debug-rules"):
        result = manage("syncer", name, "nope")
        assert result.returncode == 1
        assert "host 'nope' not found" in result.stderr and "Traceback" not in result.stderr
