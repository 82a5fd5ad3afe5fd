"""A real NetBox for the tests and the bench: installed once, migrated once, started per run on loopback.

NetBox (its source tarball lies in `shared/netbox/` beside the repository) lives OUTSIDE the clone, in
`$SYNCSITE_NETBOX_HOME` (default `/var/tmp/syncsite-netbox`): the extracted source and its own virtualenv
(its pinned requirements are not Syncsite's). A migrated PostgreSQL database `syncsite_netbox_template`
(with a superuser) is kept as a template, so a later run, or CI on the same machine from a fresh clone,
copies it (`CREATE DATABASE ... TEMPLATE`) instead of spending minutes in migrations.

NetBox runs as released; only its settings are the tests' (`CONFIGURATION`): loopback hosts, a private
Redis, and no global-search index (`NO_SEARCH`: nothing here uses NetBox's search, and indexing is a third
of its write time).

Each run: a database copied from the template, an API token (a random v1 key written into it), a private
redis-server on a free port and NetBox under gunicorn on another, all in one process group per server,
stopped and dropped at the end. Every step that cannot be done raises `NetboxUnavailable` with the reason.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from filelock import FileLock

from tests.parallel import free_port, popen_server, stop_process_group

VERSION = "4.4.10"
TEMPLATE_DB = "syncsite_netbox_template"
RUN_DB_PREFIX = "syncsite_netbox_run_"
REPO = Path(__file__).resolve().parents[2]
INSTALL_TIMEOUT = 1200
MIGRATE_TIMEOUT = 1800
START_TIMEOUT = 180
CONFIGURATION = '''"""NetBox settings for Syncsite's tests: everything from the environment the harness sets."""
import os

ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["SYNCSITE_NETBOX_DB"],
        "USER": os.environ.get("SYNCSITE_NETBOX_DB_USER", "postgres"),
        "PASSWORD": os.environ.get("SYNCSITE_NETBOX_DB_PASSWORD", ""),
        "HOST": os.environ.get("SYNCSITE_NETBOX_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("SYNCSITE_NETBOX_DB_PORT", "5432"),
        "CONN_MAX_AGE": 300,
    }
}
_REDIS = {
    "HOST": "127.0.0.1",
    "PORT": int(os.environ.get("SYNCSITE_NETBOX_REDIS_PORT", "6379")),
    "USERNAME": "",
    "PASSWORD": "",
    "SSL": False,
}
REDIS = {
    "tasks": {**_REDIS, "DATABASE": int(os.environ.get("SYNCSITE_NETBOX_REDIS_DB", "12"))},
    "caching": {**_REDIS, "DATABASE": int(os.environ.get("SYNCSITE_NETBOX_REDIS_DB", "12")) + 1},
}
SECRET_KEY = os.environ["SYNCSITE_NETBOX_SECRET_KEY"]
MAX_PAGE_SIZE = 1000
LOGIN_REQUIRED = True
CHANGELOG_RETENTION = 0
SEARCH_BACKEND = "syncsite_netbox_search.NoSearchBackend"
'''


NO_SEARCH = '''"""NetBox's search backend without its index: the tests never search, and indexing each saved object
costs NetBox a third of its write time on a busy machine."""
from netbox.search.backends import CachedValueSearchBackend


class NoSearchBackend(CachedValueSearchBackend):
    def cache(self, instances, indexer=None, remove_existing=True):
        return None

    def remove(self, instance):
        return None
'''


class NetboxUnavailable(RuntimeError):
    """NetBox cannot be installed or started here; the message says which step failed and why."""


def home() -> Path:
    return Path(os.environ.get("SYNCSITE_NETBOX_HOME") or "/var/tmp/syncsite-netbox")


def source_tarball() -> Path:
    """The NetBox source: $SYNCSITE_NETBOX_SOURCE, else shared/netbox/ beside the repository."""
    name = f"netbox-{VERSION}-src.tar.gz"
    candidates = [
        Path(os.environ["SYNCSITE_NETBOX_SOURCE"]) if os.environ.get("SYNCSITE_NETBOX_SOURCE") else None,
        REPO.parent / "shared" / "netbox" / name,
        REPO.parents[1] / "shared" / "netbox" / name,  # a worktree one level deeper than the main clone
        Path("/work/shared/netbox") / name,
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise NetboxUnavailable(f"no NetBox source ({name}) in shared/netbox/ and SYNCSITE_NETBOX_SOURCE unset")


def pg_settings() -> dict[str, str]:
    """Where NetBox's PostgreSQL is: the host of a postgres DATABASE_URL, else 127.0.0.1:5432 as postgres."""
    url = os.environ.get("SYNCSITE_NETBOX_PG") or os.environ.get("DATABASE_URL") or ""
    parts = urlsplit(url) if url.startswith("postgres") else None
    return {
        "host": (parts.hostname if parts else None) or "127.0.0.1",
        "port": str((parts.port if parts else None) or 5432),
        "user": (parts.username if parts else None) or "postgres",
        "password": (parts.password if parts else None) or "",
    }


def _admin_connection():
    import psycopg

    pg = pg_settings()
    try:
        return psycopg.connect(
            host=pg["host"],
            port=pg["port"],
            user=pg["user"],
            password=pg["password"] or None,
            dbname="postgres",
            autocommit=True,
            connect_timeout=10,
        )
    except psycopg.Error as exc:
        raise NetboxUnavailable(f"PostgreSQL at {pg['host']}:{pg['port']} is not reachable ({exc})") from exc


def _run(args: list[str], what: str, timeout: float, **kwargs) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetboxUnavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        raise NetboxUnavailable(f"{what} failed (exit {done.returncode}): {(done.stderr or done.stdout)[-2000:]}")
    return done.stdout


@dataclass
class Installation:
    """The extracted source and the virtualenv in `root`."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / f"netbox-{VERSION}"

    @property
    def app(self) -> Path:
        return self.source / "netbox"

    @property
    def python(self) -> Path:
        return self.root / "venv" / "bin" / "python"

    @property
    def gunicorn(self) -> Path:
        return self.root / "venv" / "bin" / "gunicorn"

    def env(self, database: str, redis_port: int = 6379) -> dict[str, str]:
        pg = pg_settings()
        secret = self.root / "secret_key"
        if not secret.exists():
            secret.write_text(secrets.token_urlsafe(60))
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.root),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(self.root),
            "NETBOX_CONFIGURATION": "syncsite_netbox_configuration",
            "SYNCSITE_NETBOX_DB": database,
            "SYNCSITE_NETBOX_DB_HOST": pg["host"],
            "SYNCSITE_NETBOX_DB_PORT": pg["port"],
            "SYNCSITE_NETBOX_DB_USER": pg["user"],
            "SYNCSITE_NETBOX_DB_PASSWORD": pg["password"],
            "SYNCSITE_NETBOX_REDIS_PORT": str(redis_port),
            "SYNCSITE_NETBOX_SECRET_KEY": secret.read_text().strip(),
        }

    def manage(self, args: list[str], database: str, what: str, timeout: float = 300) -> str:
        return _run(
            [str(self.python), str(self.app / "manage.py"), *args],
            what,
            timeout,
            cwd=self.app,
            env=self.env(database),
        )


def ensure_installed(root: Path | None = None) -> Installation:
    """Extract the source and build the virtualenv once (under a file lock: parallel runs wait)."""
    root = root or home()
    root.mkdir(parents=True, exist_ok=True)
    install = Installation(root)
    with FileLock(str(root / "install.lock"), timeout=INSTALL_TIMEOUT):
        if not (install.source / ".syncsite-extracted").exists():
            shutil.rmtree(install.source, ignore_errors=True)
            with tarfile.open(source_tarball()) as archive:
                archive.extractall(root, filter="data")
            (install.source / ".syncsite-extracted").touch()
        (root / "syncsite_netbox_configuration.py").write_text(CONFIGURATION)
        (root / "syncsite_netbox_search.py").write_text(NO_SEARCH)
        marker = root / "venv" / ".syncsite-installed"
        if not marker.exists():
            shutil.rmtree(root / "venv", ignore_errors=True)
            python = shutil.which("python3.11") or shutil.which("python3.12") or sys.executable
            _run([python, "-m", "venv", str(root / "venv")], "creating NetBox's virtualenv", 300)
            # the binary psycopg wheel: no compiler or libpq headers needed
            requirements = (install.source / "requirements.txt").read_text()
            pinned = root / "requirements-syncsite.txt"
            pinned.write_text(requirements.replace("psycopg[c,pool]", "psycopg[binary,pool]"))
            _run(
                [str(install.python), "-m", "pip", "install", "-q", "-r", str(pinned)],
                "installing NetBox's requirements (pip)",
                INSTALL_TIMEOUT,
            )
            marker.write_text(VERSION)
    return install


def ensure_template(install: Installation) -> None:
    """Migrate NetBox into the template database once; a later run finds it (checked by its comment)."""
    with FileLock(str(install.root / "template.lock"), timeout=MIGRATE_TIMEOUT), _admin_connection() as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", [TEMPLATE_DB]
        ).fetchone()
        if row and row[0] == f"netbox {VERSION}":
            return
        build = TEMPLATE_DB + "_build"
        for name in (build, TEMPLATE_DB):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{build}"')
        install.manage(["migrate", "--no-input"], build, "migrating NetBox's template database", MIGRATE_TIMEOUT)
        install.manage(
            [
                "shell",
                "-c",
                "from users.models import User; "
                "User.objects.create_superuser('syncsite', 'syncsite@example.com', None)",
            ],
            build,
            "creating NetBox's superuser",
        )
        conn.execute(f'ALTER DATABASE "{build}" RENAME TO "{TEMPLATE_DB}"')
        conn.execute(f"COMMENT ON DATABASE \"{TEMPLATE_DB}\" IS 'netbox {VERSION}'")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def create_run_database(install: Installation) -> tuple[str, str]:
    """A database copied from the template, with a fresh API token; (name, token). Drops leftovers of dead runs."""
    name = f"{RUN_DB_PREFIX}{os.getpid()}_{secrets.token_hex(3)}"
    token = secrets.token_hex(20)
    with FileLock(str(install.root / "template.lock"), timeout=MIGRATE_TIMEOUT), _admin_connection() as conn:
        for (old,) in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [RUN_DB_PREFIX + "%"]
        ).fetchall():
            pid = old[len(RUN_DB_PREFIX) :].split("_")[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                conn.execute(f'DROP DATABASE IF EXISTS "{old}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    import psycopg

    pg = pg_settings()
    with psycopg.connect(
        host=pg["host"], port=pg["port"], user=pg["user"], password=pg["password"] or None, dbname=name, autocommit=True
    ) as conn:
        conn.execute(
            "INSERT INTO users_token (created, key, write_enabled, description, user_id) "
            "SELECT now(), %s, true, 'syncsite tests', id FROM users_user WHERE username = 'syncsite'",
            [token],
        )
    return name, token


def drop_database(name: str) -> None:
    with contextlib.suppress(NetboxUnavailable), _admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class NetboxServer:
    """A running NetBox: its URL and token; `stop()` ends its processes and drops its database."""

    url: str
    token: str
    database: str
    run_dir: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def session(self) -> requests.Session:
        session = requests.Session()
        session.headers.update({"Authorization": f"Token {self.token}", "Accept": "application/json"})
        return session

    def stop(self) -> None:
        for process in reversed(self.processes):
            stop_process_group(process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        self.processes.clear()
        drop_database(self.database)


def _wait_for(url: str, token: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise NetboxUnavailable(f"NetBox exited with {process.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            response = requests.get(f"{url}/api/status/", headers={"Authorization": f"Token {token}"}, timeout=10)
            if response.status_code == 200:
                return
        time.sleep(0.5)
    raise NetboxUnavailable(f"NetBox did not answer within {START_TIMEOUT}s: {log.read_text()[-2000:]}")


def start_netbox(run_dir: Path, *, workers: int = 2) -> NetboxServer:
    """Install (once), copy the template, start redis and NetBox (gunicorn) on free loopback ports."""
    redis = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else "")
    if not redis:
        raise NetboxUnavailable("redis-server is not installed (scripts/system-packages installs it)")
    install = ensure_installed()
    ensure_template(install)
    database, token = create_run_database(install)
    run_dir.mkdir(parents=True, exist_ok=True)
    server = NetboxServer(url="", token=token, database=database, run_dir=run_dir)
    try:
        redis_port = free_port()
        redis_dir = run_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        server.processes.append(
            popen_server(
                [redis, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                redis_dir,
                cwd=redis_dir,
            )
        )
        port = free_port()
        server.url = f"http://127.0.0.1:{port}"
        process = popen_server(
            [
                str(install.gunicorn),
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--timeout",
                "600",
                "--graceful-timeout",
                "3",
                "netbox.wsgi",
            ],
            run_dir,
            cwd=install.app,
            env=install.env(database, redis_port),
        )
        server.processes.append(process)
        _wait_for(server.url, token, process, run_dir / "server.log")
    except BaseException:
        server.stop()
        raise
    return server


if __name__ == "__main__":  # `python -m tests.hostsplugins.netbox_server`: install and migrate ahead of a run
    started = time.monotonic()
    ensure_template(ensure_installed())
    print(f"NetBox {VERSION} ready in {home()} (template database {TEMPLATE_DB}), {time.monotonic() - started:.0f}s")
