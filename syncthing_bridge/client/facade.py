"""The ``Syncthing`` object: every API area of one daemon, sharing one HTTP session."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from syncthing_bridge.client.base import DEFAULT_TIMEOUT
from syncthing_bridge.client.cluster import Cluster
from syncthing_bridge.client.config import Config
from syncthing_bridge.client.db import Database
from syncthing_bridge.client.errors import SyncthingError
from syncthing_bridge.client.events import Events
from syncthing_bridge.client.folder import Folder
from syncthing_bridge.client.noauth import NoAuth
from syncthing_bridge.client.stats import Statistics
from syncthing_bridge.client.svc import Misc
from syncthing_bridge.client.system import System


class Syncthing:
    """Default interface for interacting with Syncthing server instance.

    ``system`` (alias ``sys``), ``database`` (alias ``db``), ``stats``, ``misc`` as in python-syncthing, plus
    ``config``, ``cluster``, ``folder`` and ``noauth``. All share one HTTP session.
    """

    def __init__(
        self,
        api_key: str,
        host: str = "localhost",
        port: int = 8384,
        timeout: float = DEFAULT_TIMEOUT,
        is_https: bool = False,
        ssl_cert_file: str | None = None,
    ):
        self.api_key = api_key
        self.host = host
        self.port = port
        self.timeout = timeout
        self.is_https = is_https
        self.ssl_cert_file = ssl_cert_file
        self._args = (api_key, host, port, timeout, is_https, ssl_cert_file)
        self.system = self.sys = System(*self._args)
        self.session = self.system.session
        kw = {"session": self.session}
        self.database = self.db = Database(*self._args, **kw)
        self.stats = Statistics(*self._args, **kw)
        self.misc = Misc(*self._args, **kw)
        self.config = Config(*self._args, **kw)
        self.cluster = Cluster(*self._args, **kw)
        self.folder = Folder(*self._args, **kw)
        self.noauth = NoAuth(*self._args, **kw)

    @classmethod
    def from_url(
        cls, url: str, api_key: str, *, timeout: float = DEFAULT_TIMEOUT, ssl_cert_file: str | None = None
    ) -> Syncthing:
        """Build a client from a GUI URL such as ``https://127.0.0.1:8384``."""
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SyncthingError(f"not a Syncthing GUI URL: {url!r}")
        is_https = parts.scheme == "https"
        port = parts.port or (443 if is_https else 80)
        return cls(api_key, parts.hostname, port, timeout, is_https, ssl_cert_file)

    @property
    def url(self) -> str:
        return self.system.url

    def events(self, last_seen_id: int | None = None, filters: str | list[str] | None = None, **kwargs: Any) -> Events:
        """A new event stream from ``last_seen_id`` (0: everything the daemon still holds)."""
        kw = {
            "host": self.host,
            "port": self.port,
            "timeout": self.timeout,
            "is_https": self.is_https,
            "ssl_cert_file": self.ssl_cert_file,
            **kwargs,
        }
        same_daemon = all(kw[k] == getattr(self, k) for k in ("host", "port", "is_https", "ssl_cert_file"))
        kw.setdefault("session", self.session if same_daemon else None)
        return Events(api_key=self.api_key, last_seen_id=last_seen_id, filters=filters, **kw)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Syncthing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Syncthing {self.url}>"
