"""A second Syncsite process (the source site) with its own database, for true two-site sync tests.

The test process is the client site (pytest-django's test database); the source is gunicorn serving
tests.synctools.source_settings against a SQLite file, or against its own PostgreSQL database when
the suite runs on PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings

from tests.conftest import free_port
from tests.parallel import one_worker, worker_suffix

ROOT = Path(__file__).resolve().parents[2]
SOURCE_TOKEN = "source-site-token-123"


class SourceSite:
    def __init__(self, base: str, var_dir: Path, token: str, env: dict[str, str]) -> None:
        self.base = base
        self.env = env  # the source site's settings and database, for commands run as that site
        self.var_dir = var_dir
        self.token = token
        self.access_log = var_dir / "access.log"  # gunicorn's: the basic-auth user name is in every line
        self.session = requests.Session()

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    def sync_url(self, path: str) -> str:
        return self.url(f"test/sync/{path}")

    def run(self, scenario: str, **kwargs):
        response = self.session.post(self.url(f"test/control/{scenario}"), json=kwargs, timeout=300)
        assert response.status_code == 200, response.text[:2000]
        return response.json()["result"]


def _source_database_url(tmp: Path) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return f"sqlite:///{tmp / 'source.sqlite3'}"
    import psycopg

    # test_<name>[_gw0] once pytest-django has made the test database, <name> before: one source per worker
    name = settings.DATABASES["default"]["NAME"].removeprefix("test_").removesuffix(worker_suffix())
    name = f"{name}_source{worker_suffix()}"
    base = url.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


@pytest.fixture(scope="session")
@one_worker("synctools-source-site")
def source_site(tmp_path_factory) -> SourceSite:
    tmp = tmp_path_factory.mktemp("source-site")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.synctools.source_settings",
        "SYNCSITE_VAR_DIR": str(tmp),
        "DATABASE_URL": _source_database_url(tmp),
        "SYNCTOOL_API_TOKEN": SOURCE_TOKEN,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("REDIS_URL", None)
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    port = free_port()
    log = open(tmp / "gunicorn.log", "w")  # noqa: SIM115 - kept open for the server's life
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "syncsite.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "300",
            "--access-logfile",
            str(tmp / "access.log"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                requests.get(base + "/healthz", timeout=30)
                break
            except (requests.ConnectionError, requests.Timeout):
                assert proc.poll() is None, (tmp / "gunicorn.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the source site never answered"
                time.sleep(0.3)
        yield SourceSite(base, tmp, SOURCE_TOKEN, env)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def source(source_site: SourceSite) -> SourceSite:
    """The source site, emptied before each test."""
    source_site.run("reset")
    return source_site


@pytest.fixture
def media_root(settings, tmp_path) -> Path:
    """The client site's media folder, fresh per test."""
    settings.MEDIA_ROOT = tmp_path / "client-media"
    return settings.MEDIA_ROOT
