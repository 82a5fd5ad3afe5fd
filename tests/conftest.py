"""Fixtures shared by every test package.

Real parts, not mocks: binaries (rsync, syncthing, sshd, chromium) are used for real. A test that needs
a missing binary fails when CI=true and is skipped with the reason elsewhere (`require_binary`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.parallel import free_port, popen_server, shared_server
from tests.parallel import stop_process_group as stop_pid_group

pytest_plugins = ["tests.parallel"]  # xdist: own ports per worker, test grouping, shared servers

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_binary(name: str, *candidates: str) -> str:
    """Path of a system program the test needs; fail in CI, skip elsewhere when it is missing."""
    for candidate in (name, *candidates):
        found = shutil.which(candidate) or (
            candidate if os.path.isabs(candidate) and os.access(candidate, os.X_OK) else None
        )
        if found:
            return found
    message = f"{name} is not installed (scripts/system-packages installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def process_group_alive(pgid: int) -> bool:
    """Whether any process of the group (a subprocess started with start_new_session=True) still runs."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_process_group(proc, timeout: float = 20) -> None:
    """SIGTERM a subprocess's whole group, SIGKILL it when it has not exited after `timeout` seconds."""
    stop_pid_group(proc.pid, timeout)
    proc.wait()


@pytest.fixture(autouse=True)
def _tasks_run_synchronously(monkeypatch):
    """django-q2 runs tasks inline in tests, so a test sees a task's effects when async_task returns."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture(autouse=True)
def _no_run_logs_at_exit():
    """Plugins left open by a test would write their run log at interpreter exit, after the test DB is gone."""
    yield
    from hosts import plugin

    for item in list(plugin.live_plugins):
        item.discard()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def require_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...)")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", "admin@example.com", "admin-pass-1234")


@pytest.fixture
def make_token(django_user_model) -> Callable[..., str]:
    """Create a user (staff or not) and return a new API token (`syncsite.tokens.issue_token`) for it."""
    from syncsite.tokens import issue_token

    def make(username: str = "api-user", *, staff: bool = False, superuser: bool = False, agent: bool = False) -> str:
        user, _ = django_user_model.objects.get_or_create(
            username=username, defaults={"is_staff": staff or superuser, "is_superuser": superuser}
        )
        return issue_token(user, label="test", agent=agent)[1]

    return make


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def token_client(make_token):
    """An APIClient authenticated as a superuser with `Authorization: Bearer <token>`."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token('api-admin', superuser=True)}")
    return client


LDAP_SUFFIX = "dc=example,dc=com"
LDAP_ADMIN_DN = f"cn=admin,{LDAP_SUFFIX}"
LDAP_ADMIN_PASSWORD = "ldap-admin-pw"  # the throwaway test directory's root password
LDAP_HOSTS = 25
LDAP_ANONYMOUS_SIZE_LIMIT = 10  # below LDAP_HOSTS: only a paged search reads them all anonymously


def _start_slapd(home: Path, slapd_path: str, slapadd: str) -> tuple[subprocess.Popen, dict]:
    """slapd on a free port of this worker, serving the LDAP_HOSTS entries; returns (process, {"url": ...})."""
    schema = "/etc/ldap/schema"
    modules = "/usr/lib/ldap"
    directory = home
    (directory / "data").mkdir()
    config = directory / "slapd.conf"
    config.write_text(
        "".join(f"include {schema}/{name}.schema\n" for name in ("core", "cosine", "inetorgperson", "nis"))
        + f"pidfile {directory}/slapd.pid\nargsfile {directory}/slapd.args\n"
        + (f"modulepath {modules}\nmoduleload back_mdb\n" if os.path.exists(f"{modules}/back_mdb.la") else "")
        + f'database mdb\nsuffix "{LDAP_SUFFIX}"\nrootdn "{LDAP_ADMIN_DN}"\nrootpw {LDAP_ADMIN_PASSWORD}\n'
        + f"directory {directory}/data\nmaxsize 10485760\n"
        + f"limits anonymous size.soft={LDAP_ANONYMOUS_SIZE_LIMIT} size.hard={LDAP_ANONYMOUS_SIZE_LIMIT}"
        + " size.prtotal=unlimited\naccess to * by * read\n"
    )
    entries = [
        f"dn: {LDAP_SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n",
        f"dn: ou=hosts,{LDAP_SUFFIX}\nobjectClass: organizationalUnit\nou: hosts\n",
    ]
    for index in range(LDAP_HOSTS):
        entries.append(
            f"dn: cn=host{index:02d}.example.com,ou=hosts,{LDAP_SUFFIX}\nobjectClass: device\nobjectClass: ipHost\n"
            f"cn: host{index:02d}.example.com\nipHostNumber: 10.0.0.{index + 1}\nl: dc{index % 3}\n"
            f"description: rack {index}\ndescription: managed\n"
        )
    ldif = directory / "hosts.ldif"
    ldif.write_text("\n".join(entries))
    subprocess.run([slapadd, "-f", str(config), "-l", str(ldif)], check=True, capture_output=True, timeout=60)
    port = free_port()
    url = f"ldap://127.0.0.1:{port}"
    proc = popen_server([slapd_path, "-f", str(config), "-h", f"{url}/", "-d", "0"], home)
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, {"url": url}
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_pid_group(proc.pid)
                log = (home / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"slapd did not start: {log}") from None
            time.sleep(0.05)


@pytest.fixture(scope="session")
def slapd(tmp_path_factory) -> Iterator[str]:
    """A real OpenLDAP `slapd` on loopback with its own MDB database of hosts; yields its `ldap://` URL.

    Started once per run and shared by the xdist workers (the tests only read it).
    `ou=hosts` holds LDAP_HOSTS `device`/`ipHost` entries (`cn`
    `hostNN.example.com`, `ipHostNumber`, `l`, two `description` values). Anonymous searches are limited to
    LDAP_ANONYMOUS_SIZE_LIMIT entries unless paged; `LDAP_ADMIN_DN` binds with `LDAP_ADMIN_PASSWORD`.
    """
    slapd_path = require_binary("slapd", "/usr/sbin/slapd")
    slapadd = require_binary("slapadd", "/usr/sbin/slapadd")
    with shared_server(tmp_path_factory, "slapd", lambda home: _start_slapd(home, slapd_path, slapadd)) as described:
        yield described["url"]
