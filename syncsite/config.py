"""Twelve-factor helpers: every setting comes from the environment with a safe default.

Kept free of Django imports so settings.py and the tests can use them before Django is set up.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path
from typing import Any

import dj_database_url

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean so that a typo fails loudly instead of silently meaning False."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name}={raw!r} is not a boolean (use one of {sorted(TRUE_WORDS | FALSE_WORDS)})")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not an integer") from exc


def database_config(url: str | None, var_dir: Path) -> dict[str, Any]:
    """Turn DATABASE_URL into Django's DATABASES entry.

    SQLite is the embedded default: WAL and an IMMEDIATE transaction mode let the web process and
    the django-q2 worker write to one file without "database is locked" errors.
    """
    if not url:
        url = f"sqlite:///{var_dir / 'syncsite.sqlite3'}"
    config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    engine = config["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    elif engine == "django.db.backends.postgresql":
        config.setdefault("OPTIONS", {})
    else:
        raise ValueError(f"DATABASE_URL scheme for {engine} is not supported; use sqlite:// or postgres://")
    config.setdefault("TEST", {})
    return config


def secret_key(var_dir: Path) -> str:
    """Use SECRET_KEY when set; otherwise generate one once and keep it under var/ (mode 0600)."""
    value = os.environ.get("SECRET_KEY")
    if value:
        return value
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(50)
    # Written whole under a temporary name, then linked into place: a process starting at the same moment (the
    # web server and the worker of a fresh install) sees either no key file or a complete one, never an empty
    # file it would read as an empty key. link() refuses to replace an existing file: the first key wins.
    fd, temporary = tempfile.mkstemp(dir=var_dir, prefix=".secret_key.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process (web or worker) won the race: use its key
            return path.read_text().strip()
    finally:
        os.unlink(temporary)
    return value


def q_cluster(
    redis_url: str | None,
    *,
    workers: int,
    timeout: int,
    sync: bool,
    retry: int | None = None,
    max_attempts: int = 3,
    save_limit: int = 1000,
) -> dict[str, Any]:
    """django-q2 settings: the database is the broker (at-least-once delivery), Redis when REDIS_URL is set.

    The database (ORM) broker keeps a task's row until the task has finished, and hands it out again `retry`
    seconds after it was taken: a task whose cluster was killed is run again by another cluster. So `retry` must
    exceed the longest a task can wait in a cluster's local queue plus its `timeout` (docs/scaling.md):
    a cluster takes at most `workers` tasks ahead (`queue_limit` + the one its pusher holds), each of which starts
    within one `timeout`, and `syncsite.taskqueue` renews the row's lock when the task starts. A failed task is
    offered again until it has run `max_attempts` times. Redis pops a task without acknowledgement: a killed
    cluster loses what it held (at-most-once), so it is for throughput where that is acceptable.
    """
    if workers < 1:
        raise ValueError(f"Q_WORKERS ({workers}) must be at least 1")
    if max_attempts < 1:
        raise ValueError(f"Q_MAX_ATTEMPTS ({max_attempts}) must be at least 1")
    queue_limit = max(1, workers - 1)
    least_retry = timeout * -(-(queue_limit + 1) // workers)  # the longest a taken task waits before it starts
    if retry is None:
        retry = least_retry + 60
    if retry <= timeout:
        raise ValueError(f"Q_RETRY ({retry}) must be greater than Q_TIMEOUT ({timeout})")
    if retry <= least_retry:
        raise ValueError(
            f"Q_RETRY ({retry}) must be greater than {least_retry} s: with Q_WORKERS={workers} a task taken by a "
            f"cluster may wait that long before it starts, and would be handed to another cluster meanwhile"
        )
    config: dict[str, Any] = {
        "name": "syncsite",
        "workers": workers,
        "timeout": timeout,
        "retry": retry,
        "max_attempts": max_attempts,
        "ack_failures": False,  # a failed task is offered again until it has run max_attempts times
        "bulk": 1,
        "queue_limit": queue_limit,
        "save_limit": save_limit,  # successful results kept; pruning them costs each save O(save_limit)
        "catch_up": False,
        "sync": sync,
        "label": "Task queue",
    }
    if redis_url:
        config["redis"] = redis_url
    else:
        config["orm"] = "default"
        config["poll"] = 1
    return config
