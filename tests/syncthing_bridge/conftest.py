"""Real Syncthing daemons on loopback for the syncthing_bridge tests.

`syncthing_cluster` (session scope) starts three daemons with isolated homes and offline options: `a` and `b` are
paired and share the folder `shared` (fs watcher on, 1 s delay); `c` knows nobody and is the one tests may stop,
restart or pause things on. Startup runs the three in parallel (~2 s).
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
from pathlib import Path

import pytest

from syncthing_bridge.localdaemon import LocalDaemon, pair, share_folder, wait_connected, wait_for
from tests.conftest import free_port, require_binary
from tests.parallel import one_worker

FOLDER = "shared"


def _ports() -> dict[str, int]:
    """GUI and sync ports from this worker's own block (tests.parallel.free_port)."""
    return {"gui_port": free_port(), "listen_port": free_port()}


@dataclass
class Cluster:
    a: LocalDaemon
    b: LocalDaemon
    c: LocalDaemon
    folder: str
    root: Path

    def path(self, daemon: LocalDaemon) -> Path:
        return self.root / daemon.name / "data"

    def ensure_running(self) -> None:
        for daemon in (self.a, self.b, self.c):
            if not daemon.is_running():
                daemon.start()


@pytest.fixture(scope="session")
@one_worker("syncthing")
def syncthing_cluster(tmp_path_factory) -> Cluster:
    binary = require_binary("syncthing", "/usr/bin/syncthing")
    root = tmp_path_factory.mktemp("syncthing")
    daemons = [
        LocalDaemon(root / name, name, f"test-key-{name}-0123456789", binary=binary, **_ports()) for name in "abc"
    ]
    with concurrent.futures.ThreadPoolExecutor(len(daemons)) as pool:
        list(pool.map(lambda d: d.start(), daemons))
    a, b, c = daemons
    cluster = Cluster(a, b, c, FOLDER, root)
    try:
        pair([a, b])
        share_folder([a, b], FOLDER, {d.name: cluster.path(d) for d in (a, b)}, fsWatcherDelayS=1, rescanIntervalS=60)
        wait_connected([a, b], timeout=30)
        yield cluster
    finally:
        for daemon in daemons:
            daemon.stop()


@pytest.fixture
def cluster(syncthing_cluster) -> Cluster:
    """The session cluster, with any daemon a previous test stopped started again."""
    syncthing_cluster.ensure_running()
    return syncthing_cluster


@pytest.fixture
def write_and_wait(cluster):
    """Write a file at a and wait (bounded) until b has it."""

    def write(name: str, content: str = "hello", timeout: float = 30.0) -> Path:
        source = cluster.path(cluster.a) / name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(content)
        target = cluster.path(cluster.b) / name

        def arrived() -> bool:
            try:
                return target.read_text() == content
            except OSError:  # not there yet, or being replaced by the daemon right now
                return False

        wait_for(arrived, timeout, what=f"{name} at b")
        return target

    return write


@pytest.fixture(scope="session")
@one_worker("syncthing")
def tls_daemon(tmp_path_factory) -> LocalDaemon:
    """A lone daemon whose GUI serves https with a self-signed certificate for 127.0.0.1 (`ca_file`)."""
    binary = require_binary("syncthing", "/usr/bin/syncthing")
    daemon = LocalDaemon(
        tmp_path_factory.mktemp("tls") / "t", "t", "tls-key-0123456789", binary=binary, tls=True, **_ports()
    )
    daemon.start()
    yield daemon
    daemon.stop()
