"""Fixtures of the agent tests: volumes on disk and a real sshd on loopback (own keys, own port)."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port, require_binary
from tests.parallel import popen_server, shared_server, stop_process_group


@dataclass
class SSHServer:
    """A running sshd that accepts one key for the current user on 127.0.0.1:port."""

    port: int
    user: str
    identity_file: Path
    known_hosts_file: Path

    def url(self, path: Path | str) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def configure(self, settings) -> None:
        """The agent's own ssh settings (never a volume's keys) for this server's key and host key."""
        settings.TRACKER_AGENT_SSH_IDENTITY_FILE = str(self.identity_file)
        settings.TRACKER_AGENT_SSH_KNOWN_HOSTS_FILE = str(self.known_hosts_file)
        settings.TRACKER_AGENT_SSH_STRICT_HOST_KEY_CHECKING = "yes"


@pytest.fixture
def agent_ssh(ssh_server, settings) -> SSHServer:
    """The ssh server, with the agent's settings pointing at its keys for this test."""
    ssh_server.configure(settings)
    return ssh_server


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text(errors='replace')}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("sshd did not start listening")


def _start_sshd(home: Path, sshd: str, keygen: str) -> tuple[subprocess.Popen, dict]:
    for name in ("host_key", "client_key"):
        subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    (home / "authorized_keys").write_text((home / "client_key.pub").read_text())
    port = free_port()
    host_pub = (home / "host_key.pub").read_text().split()
    (home / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
    user = pwd.getpwuid(os.getuid()).pw_name
    (home / "sshd_config").write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {home / 'host_key'}",
                f"AuthorizedKeysFile {home / 'authorized_keys'}",
                f"PidFile {home / 'sshd.pid'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                f"AllowUsers {user}",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    proc = popen_server([sshd, "-D", "-e", "-f", str(home / "sshd_config")], home)
    try:
        _wait_for_port(port, proc, home / "server.log")
    except BaseException:
        stop_process_group(proc.pid)
        proc.wait()
        raise
    return proc, {
        "port": port,
        "user": user,
        "identity_file": str(home / "client_key"),
        "known_hosts_file": str(home / "known_hosts"),
    }


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory) -> Iterator[SSHServer]:
    """sshd on loopback, key auth only, no PAM; started once per run (shared by the xdist workers: read-only)."""
    sshd = require_binary("sshd", "/usr/sbin/sshd")
    keygen = require_binary("ssh-keygen")
    require_binary("ssh")
    with shared_server(tmp_path_factory, "sshd", lambda home: _start_sshd(home, sshd, keygen)) as described:
        yield SSHServer(
            port=described["port"],
            user=described["user"],
            identity_file=Path(described["identity_file"]),
            known_hosts_file=Path(described["known_hosts_file"]),
        )


def write_file(root: Path, node_id: str, content: bytes | str = b"x", mtime: float | None = None) -> Path:
    """Create the file of a tracker path under a volume root."""
    path = root / node_id.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


@dataclass
class Site:
    name: str
    root: Path


@pytest.fixture
def make_site(tmp_path):
    """A volume node in the tracker plus its folder (or an ssh url to it with url=)."""
    from tracker import services

    def make(name: str, *, url: str | None = None, root: Path | None = None, **keys) -> Site:
        root = root or tmp_path / "volumes" / name
        root.mkdir(parents=True, exist_ok=True)
        defaults = {"enableReception": True, "enableEmission": False, "enableDiscovery": False}
        services.create_volume(name, url=url or str(root), **{**defaults, **keys})
        return Site(name, root)

    return make


def publish_file(site: Site, node_id: str, content: bytes | str = b"data", **keys) -> dict:
    """Write the file at its origin volume and publish it there, as a studio tool would."""
    from tracker import services

    if not node_id.endswith("/"):
        write_file(site.root, node_id, content)
    return services.publish(node_id, origin=site.name, author="alice", comment="new", **keys)


@pytest.fixture(autouse=True)
def _fresh_monitoring_cache():
    """The monitoring page caches its per-site totals briefly; each test starts without them."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
