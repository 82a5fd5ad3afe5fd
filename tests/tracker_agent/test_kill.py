"""Kill a real agent process with SIGKILL mid-batch: no partial file under a final name, and the next run
recovers the stale `syncing_` claims with no file lost.

The agent must be a separate process sharing the database with the test, so this test gives it (and the
helper processes that seed and read the tracker) a SQLite file of its own, migrated here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.tracker_agent.conftest import write_file

ROOT = Path(__file__).resolve().parents[2]
STALE_SECONDS = 6
pytestmark = pytest.mark.integration


@pytest.fixture
def agent_env(tmp_path):
    (tmp_path / "kill_settings.py").write_text(
        f"from syncsite.settings import *  # noqa: F403\n\nTRACKER_SYNCING_STALE_SECONDS = {STALE_SECONDS}\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'tracker.sqlite3'}",
        "SYNCSITE_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "kill_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    return env


def helper(env: dict, command: str, payload: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.tracker_agent.subprocess_db", command, json.dumps(payload)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def agent_once(env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "manage.py", "tracker_agent", "--site", "B", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sigkill_mid_batch_then_recovery(agent_env, tmp_path):
    require_binary("rsync")
    a_root, b_root = tmp_path / "A", tmp_path / "B"
    b_root.mkdir()
    small = [f"/p/small{i}.txt" for i in range(3)]
    for path in small:
        write_file(a_root, path, path * 100)
    big = write_file(a_root, "/p/big.bin", b"")
    with big.open("wb") as handle:
        for _ in range(24):
            handle.write(os.urandom(1 << 20))
    paths = [*small, "/p/big.bin"]
    helper(
        agent_env,
        "seed",
        {
            "volumes": [
                {"name": "A", "url": str(a_root), "enableReception": False},
                # A slow link, so the kill lands while the big file is on its way.
                {"name": "B", "url": str(b_root), "enableReception": True, "rsync_args": "--bwlimit=3m"},
            ],
            "files": [{"_id": path, "origin": "A", "comment": "new"} for path in paths],
        },
    )
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "tracker_agent", "--site", "B"],
        cwd=ROOT,
        env=agent_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        target = b_root / "p"
        while time.monotonic() < deadline:
            if target.is_dir() and any(p.name.startswith(".big.bin.") for p in target.iterdir()):
                break
            assert proc.poll() is None, proc.stderr.read().decode(errors="replace")
            time.sleep(0.05)
        else:
            pytest.fail("the agent never started copying the big file")
        time.sleep(0.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)  # rsync, told by the kernel its parent died, puts its partial file aside
    assert not (b_root / "p/big.bin").exists(), "a partial copy took the final name"

    state = helper(agent_env, "dump", {"paths": paths, "site": "B"})
    claims = [n.get("syncing_B") for n in state["nodes"]]
    assert all(claims), state["nodes"]
    assert not any("synced_B" in n for n in state["nodes"])
    assert state["volume"]["agentStatus"] == "on"  # it never had the chance to say goodbye

    helper(agent_env, "update_volume", {"site": "B", "changes": {"rsync_args": ""}})
    before_stale = agent_once(agent_env)
    state = helper(agent_env, "dump", {"paths": paths, "site": "B"})
    if state["now"] - min(claims) < (STALE_SECONDS - 1) * 1000:
        assert before_stale["reception"]["batches"] == 0  # fresh claims are respected
    wait = (min(claims) + STALE_SECONDS * 1000 - state["now"]) / 1000 + 0.2
    if wait > 0:
        time.sleep(wait)
    recovered = agent_once(agent_env)
    assert recovered["reception"]["synced"] + before_stale["reception"]["synced"] == len(paths)
    state = helper(agent_env, "dump", {"paths": paths, "site": "B"})
    for current in state["nodes"]:
        assert current["synced_B"] >= current["time"] and "syncing_B" not in current
    for path in paths:
        assert (b_root / path.lstrip("/")).read_bytes() == (a_root / path.lstrip("/")).read_bytes()
    assert state["volume"]["agentStatus"] == "off"

    # A long-running agent stopped with SIGTERM ends its round, gives claims back and says it is off.
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "tracker_agent", "--site", "B"],
        cwd=ROOT,
        env=agent_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert b"agent for B started" in proc.stdout.readline()
        time.sleep(1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert helper(agent_env, "dump", {"paths": [], "site": "B"})["volume"]["agentStatus"] == "off"
