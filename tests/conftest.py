"""Fixtures shared by every test package.

Real parts, not mocks: binaries (rsync, syncthing, sshd, chromium) are used for real. A test that needs
a missing binary fails when CI=true and is skipped with the reason elsewhere (`require_binary`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

import pytest
from django.db import connection

from tests.parallel import free_port  # noqa: F401 - imported from here by the test packages

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
    import signal
    import subprocess

    if not process_group_alive(proc.pid):
        proc.wait()
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
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
