"""Parallel test runs (pytest-xdist, `make test` runs `-n 2 --dist loadgroup`): what keeps workers apart.

- Ports: `free_port` hands each worker ports from its own block below the kernel's ephemeral range, so
  one worker never gets a port another worker (or an outgoing connection) has just picked.
- Per-worker servers that tests change (a Syncthing cluster, a second Syncsite) start once per run:
  `@one_worker("name")` on such a session fixture keeps every test that uses it on one worker.
- Tests that share a module- or class-scoped fixture stay on one worker, so it is built once.
- Read-only servers (sshd) start once for all workers: `shared_server` starts the first under a file
  lock in the run's shared temporary folder, the other workers reuse it, and the controller stops it
  when the run is over.

pytest-django gives each worker its own test database (`test_<name>_gw0`, ...); `worker_suffix()`
names what a fixture creates beside it (another database) the same way.

PYTEST_DONT_REWRITE: tests/conftest.py imports this plugin before pytest registers it (it has no asserts).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from xdist.scheduler import LoadGroupScheduling

PORT_BLOCK = 1000
PORT_BLOCKS = 10
SHARED_PREFIX = "shared-"
_GROUPS: dict[str, str] = {}  # session fixture name -> xdist group of the tests that use it
_port_cursor: int | None = None
_started: list[subprocess.Popen] = []


def worker_id() -> str:
    """The xdist worker's name ("gw0", "gw1", ...); empty in a serial run and in the xdist controller."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


def worker_suffix() -> str:
    """The suffix pytest-django gives each worker's test database ("_gw0", ...); empty outside workers."""
    worker = worker_id()
    return f"_{worker}" if worker else ""


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port free on loopback right now, from this worker's own block.

    The blocks lie just below the kernel's ephemeral range (where it picks ports for `bind(0)` and
    outgoing connections); ports are handed out in turn from a random start, so a port a test keeps
    closed on purpose is not handed to a server soon after.
    """
    global _port_cursor
    base = _ephemeral_low() - PORT_BLOCK * PORT_BLOCKS
    if base < 1024:  # an unusual kernel range: let the kernel pick
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    worker = worker_id()
    start = base + (int(worker.removeprefix("gw")) % PORT_BLOCKS if worker else 0) * PORT_BLOCK
    if _port_cursor is None:
        _port_cursor = random.randrange(PORT_BLOCK)
    for _ in range(PORT_BLOCK):
        _port_cursor = (_port_cursor + 1) % PORT_BLOCK
        if _bindable(start + _port_cursor):
            return start + _port_cursor
    raise RuntimeError(f"no free port in {start}-{start + PORT_BLOCK - 1}")


def one_worker(group: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Put under `@pytest.fixture(scope="session")`: every test using the fixture runs on one worker.

    For servers the tests change (stop, reset, fill), which cannot be shared but are too slow to start
    on every worker. Fixtures given the same group share a worker.
    """

    def register(fixture: Callable[..., Any]) -> Callable[..., Any]:
        _GROUPS[fixture.__name__] = group
        return fixture

    return register


def _group_of(item: pytest.Item) -> str:
    """The scheduling group of a test: its `one_worker` servers and its module- or class-scoped fixtures."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return ""
    groups = set()
    for name in item.fixturenames:
        if name in _GROUPS:
            groups.add(_GROUPS[name])
        definitions = info.name2fixturedefs.get(name) or ()
        if definitions and definitions[-1].baseid:  # a fixture of this project, not of a plugin
            if definitions[-1].scope in ("module", "class"):
                groups.add(item.nodeid.split("::")[0])
            elif definitions[-1].scope == "package":
                groups.add(definitions[-1].baseid)
    return " + ".join(sorted(groups))


def _transactional(item: pytest.Item) -> bool:
    """Whether pytest-django runs the test transactionally (flushing the database after it), as it orders them."""
    from django.test import TestCase, TransactionTestCase
    from pytest_django.fixtures import validate_django_db

    cls = getattr(item, "cls", None)
    if cls is not None and issubclass(cls, TransactionTestCase):
        return not issubclass(cls, TestCase)
    marker = item.get_closest_marker("django_db")
    if marker is not None:
        transaction, reset_sequences, *_ = validate_django_db(marker)
        if transaction or reset_sequences:
            return True
    return bool({"transactional_db", "live_server"}.intersection(item.fixturenames))


def _schedule_file(config: pytest.Config, worker: str) -> Path:
    """Where a worker tells the controller its test groups (the run's temporary folder, which both see)."""
    basetemp = config._tmp_path_factory.getbasetemp()
    return (basetemp.parent if worker else basetemp) / f"schedule-{worker or '*'}.json"


@pytest.hookimpl(trylast=True)  # the node ids as the controller will receive them
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    worker = worker_id()
    if not worker or getattr(config.option, "dist", "no") != "no" or not getattr(config.option, "loadgroup", False):
        return
    schedule = {
        "groups": {item.nodeid: group for item in items if (group := _group_of(item))},
        "slow": [item.nodeid for item in items if item.get_closest_marker("integration")],
        "transactional": [item.nodeid for item in items if _transactional(item)],
    }
    _schedule_file(config, worker).write_text(json.dumps(schedule))


class GroupScheduling(LoadGroupScheduling):
    """`--dist loadgroup` with the groups `_group_of` gives (written by the workers at collection).

    xdist's own loadgroup reads groups from node ids it rewrites in the workers, which pytest 9.2's
    structured node ids no longer allow (pytest-xdist issue 1386).

    As in Django's own runner, a worker runs its transactional tests last: they flush the database,
    taking the rows data migrations wrote with it, which other tests may read. So a group is split
    into its non-transactional and its transactional part, and every worker gets the former before
    the latter. Within each part groups start first, largest first, then the tests marked
    `integration` (real servers, the slowest), then the rest in collection order.
    """

    def __init__(self, config: pytest.Config, log: Any) -> None:
        super().__init__(config, log)
        self._schedule: dict[str, Any] | None = None
        self._ordered = False

    def _load(self) -> dict[str, Any]:
        if self._schedule is None:
            self._schedule = {"groups": {}, "slow": set(), "transactional": set()}
            pattern = _schedule_file(self.config, "")
            for path in sorted(pattern.parent.glob(pattern.name)):
                written = json.loads(path.read_text())
                self._schedule["groups"].update(written["groups"])
                self._schedule["slow"].update(written["slow"])
                self._schedule["transactional"].update(written["transactional"])
        return self._schedule

    def _split_scope(self, nodeid: str) -> str:
        schedule = self._load()
        phase = "transactional" if nodeid in schedule["transactional"] else "first"
        group = schedule["groups"].get(nodeid)
        return f"{phase}: {f'group {group}' if group else super()._split_scope(nodeid)}"

    def _priority(self, unit: tuple[str, dict[str, bool]]) -> tuple[bool, bool, bool, int]:
        scope, tests = unit
        return (
            scope.startswith("transactional: "),
            len(tests) == 1,
            not self._load()["slow"].intersection(tests),
            -len(tests),
        )

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:  # the first call comes right after schedule() filled the queue
            self._ordered = True
            units = sorted(self.workqueue.items(), key=self._priority)
            self.workqueue.clear()
            self.workqueue.update(units)
        super()._assign_work_unit(node)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own loadgroup scheduler
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> GroupScheduling | None:
    return GroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


def _gone(pid: int) -> bool:
    """The process has exited (a zombie counts: a worker that started it may have left it to init)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it when it is our own child
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def stop_process_group(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a server's process group (started with start_new_session), SIGKILL after `timeout`."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _gone(pid):
                return
            time.sleep(0.05)


@contextlib.contextmanager
def shared_server(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    start: Callable[[Path], tuple[subprocess.Popen, dict[str, Any]]],
) -> Iterator[dict[str, Any]]:
    """Start a read-only server once per run and yield its JSON-able description.

    `start(home)` starts it (with `popen_server`: a new session, output in a file rather than a pipe
    the starting worker would take with it) and returns (process, description). Under xdist the first worker
    starts it under a file lock in the run's shared temporary folder, the others read the
    description, and the controller stops it at the end of the run; a serial run stops it itself.
    """
    if not worker_id():
        process, description = start(tmp_path_factory.mktemp(name))
        try:
            yield description
        finally:
            stop_process_group(process.pid)
            process.wait()
        return
    home = tmp_path_factory.getbasetemp().parent / f"{SHARED_PREFIX}{name}"
    with FileLock(f"{home}.lock", timeout=300):
        state = home / "server.json"
        if not state.exists():
            home.mkdir(exist_ok=True)
            process, description = start(home)
            _started.append(process)  # outlives this fixture; the controller stops it
            (home / "pid").write_text(str(process.pid))
            state.write_text(json.dumps(description))
        description = json.loads(state.read_text())
    yield description


@pytest.hookimpl(trylast=True)  # after xdist has waited for every worker to finish
def pytest_sessionfinish(session: pytest.Session) -> None:
    if worker_id() or not session.config.pluginmanager.has_plugin("dsession"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    for pid_file in factory.getbasetemp().glob(f"{SHARED_PREFIX}*/pid"):
        stop_process_group(int(pid_file.read_text()))
        pid_file.unlink()


def popen_server(args: list[str], home: Path, **kwargs: Any) -> subprocess.Popen:
    """Start a server in its own session with stdout and stderr in `home`/server.log."""
    with open(home / "server.log", "ab") as log:
        return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **kwargs)
