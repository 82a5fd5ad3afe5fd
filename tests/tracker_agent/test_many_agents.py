"""Several agent processes of one site drain its queue together: disjoint claims, no file copied twice.

The agents are real `manage.py tracker_agent --once` processes sharing the database with the test (a migrated
SQLite file of their own, or the PostgreSQL test database with committed data). rsync is the real binary behind
a wrapper that adds `--log-file` to every copying run, so the test counts what rsync itself says it
transferred, per file, across all agents.
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from tests.conftest import require_binary
from tests.tracker_agent.test_kill import helper

ROOT = Path(__file__).resolve().parents[2]
FILES = 2_000
AGENTS = 3
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _database_url(tmp_path: Path, env: dict) -> str:
    """PostgreSQL: the test database itself (this test commits). SQLite: a file of its own, migrated here."""
    if connection.vendor == "postgresql":
        db = django_settings.DATABASES["default"]
        login = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        return f"postgres://{login}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    url = f"sqlite:///{tmp_path / 'tracker.sqlite3'}"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        env={**env, "DATABASE_URL": url},
        check=True,
        timeout=180,
    )
    return url


@pytest.fixture
def agents_env(tmp_path):
    rsync = require_binary("rsync")
    logs = tmp_path / "rsync-logs"
    logs.mkdir()
    wrapper = tmp_path / "rsync-logged"
    wrapper.write_text(
        "#!/bin/sh\n"
        "# the real rsync; a copying run also writes what it transferred to a log of its own\n"
        'case " $* " in *" --dry-run "*) exec ' + rsync + ' "$@";; esac\n'
        f'exec {rsync} --log-file="{logs}/run.$$.log" --log-file-format="%i %n" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "many_settings.py").write_text(
        f"from syncsite.settings import *  # noqa: F403\n\nTRACKER_RSYNC_BINARY = {str(wrapper)!r}\n"
    )
    env = {
        **os.environ,
        "SYNCSITE_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "many_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    env["DATABASE_URL"] = _database_url(tmp_path, env)
    return env, logs


def _transfers(logs: Path) -> collections.Counter:
    """How many times rsync received each file, over every agent's runs (`>f` items of the logs)."""
    counts: collections.Counter = collections.Counter()
    for log in logs.glob("run.*.log"):
        for line in log.read_text(errors="replace").splitlines():
            _, _, item = line.partition("] ")
            flags, _, name = item.partition(" ")
            if flags.startswith(">f"):
                counts[name] += 1
    return counts


def test_agents_of_one_site_claim_disjoint_batches(agents_env, tmp_path):
    env, logs = agents_env
    a_root, b_root = tmp_path / "A", tmp_path / "B"
    b_root.mkdir()
    paths = [f"/many/d{i // 500}/f{i:05}.txt" for i in range(FILES)]
    for path in paths:
        target = a_root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path)
    helper(
        env,
        "seed_many",
        {
            "volumes": [
                {"name": "A", "url": str(a_root), "enableReception": False},
                {"name": "B", "url": str(b_root), "enableReception": True, "syncAmountReception": 100},
            ],
            "files": [{"_id": path, "origin": "A", "comment": "new"} for path in paths],
        },
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "tracker_agent", "--site", "B", "--once"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(AGENTS)
    ]
    reports = []
    try:
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            reports.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    synced = [report["reception"]["synced"] for report in reports]
    assert sum(synced) == FILES, synced  # every file recorded once, by one agent
    assert sum(1 for count in synced if count) >= 2, f"only one agent took part: {synced}"
    assert not any(report["reception"]["errors"] for report in reports)

    transfers = _transfers(logs)
    assert len(transfers) == FILES
    twice = {name: count for name, count in transfers.items() if count != 1}
    assert not twice, f"copied more than once: {dict(list(twice.items())[:10])}"
    state = helper(env, "dump", {"paths": paths[::97], "site": "B"})
    for current in state["nodes"]:
        assert current["synced_B"] >= current["time"] and "syncing_B" not in current
    for path in paths[::97]:
        assert (b_root / path.lstrip("/")).read_text() == path
    shutil.rmtree(logs)
