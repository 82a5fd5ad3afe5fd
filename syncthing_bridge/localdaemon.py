"""Run throw-away Syncthing daemons on loopback (tests, benchmarks, local development).

Each daemon gets its own home, a known API key, GUI and sync ports on 127.0.0.1, and nothing that talks to the
internet: no global discovery, relays, NAT traversal, usage reporting, crash reporting or upgrades. No Django.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from syncthing_bridge.client import Syncthing, SyncthingConnectionError, SyncthingError

OFFLINE_OPTIONS = {
    "globalAnnounceEnabled": "false",
    "localAnnounceEnabled": "false",
    "relaysEnabled": "false",
    "natEnabled": "false",
    "urAccepted": "-1",
    "autoUpgradeIntervalH": "0",
    "crashReportingEnabled": "false",
    "startBrowser": "false",
    "reconnectionIntervalS": "1",
    "setLowPriority": "false",
}


def free_port() -> int:
    """A TCP port free on loopback right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def syncthing_binary() -> str | None:
    return shutil.which("syncthing")


class LocalDaemon:
    """One ``syncthing serve`` process with an isolated home; ``client`` talks to it."""

    def __init__(
        self,
        home: str | os.PathLike,
        name: str,
        api_key: str,
        *,
        binary: str = "syncthing",
        gui_port: int | None = None,
        listen_port: int | None = None,
        tls: bool = False,
    ):
        self.home = Path(home)
        self.name = name
        self.api_key = api_key
        self.binary = binary
        self.gui_port = gui_port or free_port()
        self.listen_port = listen_port or free_port()
        self.process: subprocess.Popen | None = None
        self.device_id = ""
        self.tls = tls
        #: With ``tls``: the GUI certificate (self-signed for 127.0.0.1), to pass as ``ssl_cert_file``.
        self.ca_file = self.home / "https-cert.pem"
        self.log_path = self.home / "syncthing.log"
        self._log = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.gui_port}"

    @property
    def listen_address(self) -> str:
        return f"tcp://127.0.0.1:{self.listen_port}"

    def client(self, timeout: float = 10.0) -> Syncthing:
        ca = str(self.ca_file) if self.tls else None
        return Syncthing(self.api_key, "127.0.0.1", self.gui_port, timeout, self.tls, ca)

    def _env(self) -> dict[str, str]:
        return {**os.environ, "STNODEFAULTFOLDER": "1", "STNOUPGRADE": "1", "STNORESTART": "1", "HOME": str(self.home)}

    def generate(self) -> None:
        """Create keys and a config with our ports, API key and offline options."""
        self.home.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [self.binary, "generate", "--home", str(self.home), "--no-default-folder"],
            check=True,
            capture_output=True,
            env=self._env(),
            timeout=60,
        )
        config_path = self.home / "config.xml"
        tree = ET.parse(config_path)  # noqa: S314 - the file syncthing generate just wrote
        root = tree.getroot()
        own = root.find("device")
        self.device_id = own.get("id")
        own.set("name", self.name)
        gui = root.find("gui")
        if self.tls:
            gui.set("tls", "true")
            write_gui_certificate(self.home)
        gui.find("address").text = f"127.0.0.1:{self.gui_port}"
        gui.find("apikey").text = self.api_key
        options = root.find("options")
        options.find("listenAddress").text = self.listen_address
        for key, value in OFFLINE_OPTIONS.items():
            element = options.find(key)
            if element is None:
                element = ET.SubElement(options, key)
            element.text = value
        tree.write(config_path)

    def start(self, wait: float = 30.0) -> None:
        """Start the daemon and return once its REST API answers."""
        if not (self.home / "config.xml").exists():
            self.generate()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [self.binary, "serve", "--home", str(self.home), "--no-browser", "--no-restart", "--no-upgrade"],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self._env(),
        )
        self.wait_ready(wait)

    def wait_ready(self, wait: float = 30.0) -> None:
        client = self.client(timeout=2.0)
        deadline = time.monotonic() + wait
        try:
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise SyncthingError(
                        f"syncthing {self.name} exited with {self.process.returncode}: {self.log_tail()}"
                    )
                try:
                    client.system.ping()
                    return
                except SyncthingConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the daemon (SIGTERM, then SIGKILL if it hangs)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        """Stop and start the same home again (new process: event ids start over)."""
        self.stop()
        self.start()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def write_gui_certificate(home: Path, host: str = "127.0.0.1") -> None:
    """A self-signed GUI certificate valid for `host` (Syncthing's own names the host "syncthing")."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (home / "https-cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (home / "https-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )


def pair(daemons: list[LocalDaemon]) -> None:
    """Make every daemon know every other one by id and loopback address (through the config API)."""
    for daemon in daemons:
        client = daemon.client()
        client.config.devices.add(
            [
                {"deviceID": other.device_id, "name": other.name, "addresses": [other.listen_address]}
                for other in daemons
                if other is not daemon
            ]
        )
        client.close()


def share_folder(
    daemons: list[LocalDaemon], folder_id: str, paths: dict[str, str | os.PathLike], **settings: Any
) -> None:
    """Add the same folder on every daemon, shared with all of them; ``paths`` maps daemon name → directory."""
    devices = [{"deviceID": d.device_id} for d in daemons]
    for daemon in daemons:
        path = Path(paths[daemon.name])
        path.mkdir(parents=True, exist_ok=True)
        client = daemon.client()
        client.config.folders.add(
            {"id": folder_id, "label": folder_id, "path": str(path), "devices": devices, **settings}
        )
        client.close()


def wait_for(predicate, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value or ``timeout`` seconds pass (then TimeoutError)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except SyncthingError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_connected(daemons: list[LocalDaemon], timeout: float = 30.0) -> None:
    """Wait until every daemon is connected to every other one."""
    for daemon in daemons:
        client = daemon.client()
        others = {d.device_id for d in daemons if d is not daemon}

        def connected(client=client, others=others) -> bool:
            conns = client.system.connections()["connections"]
            return all(conns.get(dev, {}).get("connected") for dev in others)

        wait_for(connected, timeout, what=f"{daemon.name} to connect to its peers")
        client.close()
