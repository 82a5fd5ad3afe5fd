"""Backup and restore onto a fresh var/ (and database) that then serves: real subprocesses, real files.

SQLite: the online backup API; PostgreSQL (with DATABASE_URL=postgres://...): pg_dump / pg_restore into a
second, empty database. The restored site reads the encrypted secret written before the backup (the secret
key travelled in var/) and serves /healthz over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.parallel import popen_server, stop_process_group, worker_suffix

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WRITE = (
    "from notifications.models import Channel; from tracker import services;"
    "Channel.objects.create(name='hook', kind='webhook', url='http://127.0.0.1:9/h', secret='kept-secret');"
    "services.create_volume('paris', url='/tmp/paris')"
)
READ = (
    "from notifications.models import Channel; from tracker import services;"
    "print(Channel.objects.get(name='hook').secret, services.sites())"
)


def _env(var_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEY"}}
    env.update(DJANGO_SETTINGS_MODULE="syncsite.settings", SYNCSITE_VAR_DIR=str(var_dir), NO_COLOR="1")
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=200
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _serves(env: dict[str, str], home: Path) -> dict:
    import json

    port = free_port()
    proc = popen_server(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"], home, cwd=ROOT, env=env
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
                    return json.loads(response.read())
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError((home / "server.log").read_text()[-3000:]) from None
                time.sleep(0.3)
    finally:
        stop_process_group(proc.pid)
        proc.wait()


def _round_trip(tmp_path: Path, url_a: str | None, url_b: str | None, migrated: Path | None = None) -> None:
    site_a, site_b = migrated or tmp_path / "a", tmp_path / "b"
    env_a, env_b = _env(site_a, url_a), _env(site_b, url_b)
    if migrated is None:
        _manage(env_a, "migrate", "--noinput", "-v", "0")
    _manage(env_a, "shell", "-c", WRITE)
    (site_a / "media" / "pictures").mkdir(parents=True, exist_ok=True)
    (site_a / "media" / "pictures" / "p.txt").write_text("media")
    archive = tmp_path / "backups" / "site.tar.gz"
    assert "backup" in _manage(env_a, "backup", str(archive))
    assert archive.stat().st_mode & 0o077 == 0  # it holds the secret key: the owner's only

    site_b.mkdir()
    out = _manage(env_b, "restore", str(archive))
    assert "restored" in out
    assert (site_b / "secret_key").read_text() == (site_a / "secret_key").read_text()
    assert (site_b / "media" / "pictures" / "p.txt").read_text() == "media"
    assert _manage(env_b, "shell", "-c", READ).strip().splitlines()[-1].split() == ["kept-secret", "['paris']"]
    assert _serves(env_b, tmp_path)["status"] == "ok"


def test_sqlite_backup_restores_onto_a_fresh_directory_that_serves(tmp_path, fresh_var):
    _round_trip(tmp_path, None, None, migrated=fresh_var)


@pytest.mark.postgres
def test_postgres_backup_restores_into_an_empty_database_that_serves(tmp_path, require_postgres):
    import psycopg

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    names = [f"syncsite_backup_{side}{worker_suffix()}_{os.getpid()}" for side in ("a", "b")]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        _round_trip(tmp_path, f"{base}/{names[0]}", f"{base}/{names[1]}")
    finally:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
