"""Python bindings to the Syncthing REST API, compatible with python-syncthing (importable without Django).

Code written for python-syncthing runs unchanged after replacing ``from syncthing import ...`` with
``from syncthing_bridge.client import ...``. What is better than the original:

- one ``requests.Session`` per client, shared by ``system``/``database``/``stats``/``misc``/... (connection reuse);
- ``ssl_cert_file`` is the CA bundle that verifies a self-signed GUI certificate (not a client certificate);
- errors are :class:`SyncthingError` subclasses that say what failed (unauthorised, not found, unsupported by this
  daemon, connection, timeout, HTTP status), with the method, URL and status attached;
- the event stream long-polls with the server's ``timeout`` and a longer client timeout, never asks the server for a
  ``limit`` (which keeps only the newest events of a burst), retries with backoff when the daemon goes away and
  starts over from the beginning when the daemon restarted (event ids starting over);
- the modern API the original lacks: ``config``, ``cluster``, ``folder``, ``noauth`` and more ``db``/``system`` calls.

One module per API area, as Syncthing's REST documentation groups them (``system``, ``db``, ``stats``, ``svc``,
``config``, ``cluster``, ``folder``, ``noauth``, ``events``), plus ``errors``, ``base`` (the HTTP layer) and
``facade`` (:class:`Syncthing`); this package re-exports every public name, so imports from
``syncthing_bridge.client`` keep working.

The doctest-style examples in these modules run against a live daemon in the test suite (``_syncthing()``
builds the client).
"""

from __future__ import annotations

from syncthing_bridge.client.base import DEFAULT_TIMEOUT, BaseAPI, keys_to_datetime, parse_datetime
from syncthing_bridge.client.base import new_session as new_session  # public before the split
from syncthing_bridge.client.cluster import Cluster
from syncthing_bridge.client.config import Config, ConfigCollection, ConfigObject
from syncthing_bridge.client.db import Database
from syncthing_bridge.client.errors import (
    SyncthingAPIError,
    SyncthingConnectionError,
    SyncthingError,
    SyncthingHTTPError,
    SyncthingNotFoundError,
    SyncthingSSLError,
    SyncthingTimeoutError,
    SyncthingUnauthorizedError,
    SyncthingUnsupportedError,
)
from syncthing_bridge.client.events import DEFAULT_EVENT_POLL_SECONDS as DEFAULT_EVENT_POLL_SECONDS  # as above
from syncthing_bridge.client.events import Events
from syncthing_bridge.client.facade import Syncthing
from syncthing_bridge.client.folder import Folder
from syncthing_bridge.client.noauth import NoAuth
from syncthing_bridge.client.stats import Statistics
from syncthing_bridge.client.svc import Misc
from syncthing_bridge.client.system import ErrorEvent, System

__all__ = [
    "DEFAULT_TIMEOUT",
    "BaseAPI",
    "Cluster",
    "Config",
    "ConfigCollection",
    "ConfigObject",
    "Database",
    "ErrorEvent",
    "Events",
    "Folder",
    "Misc",
    "NoAuth",
    "Statistics",
    "Syncthing",
    "SyncthingAPIError",
    "SyncthingConnectionError",
    "SyncthingError",
    "SyncthingHTTPError",
    "SyncthingNotFoundError",
    "SyncthingSSLError",
    "SyncthingTimeoutError",
    "SyncthingUnauthorizedError",
    "SyncthingUnsupportedError",
    "System",
    "keys_to_datetime",
    "parse_datetime",
]


def _present_as_public(names: list[str]) -> None:
    """Give the public classes and functions this package as their module, as they had when it was one file.

    Callers of python-syncthing see ``syncthing_bridge.client.Syncthing`` in reprs, pickles and ``help()``, and
    doctest finds the examples of every class and method when it is pointed at this package.
    """
    prefix = __name__ + "."
    for name in names:
        obj = globals()[name]
        if not getattr(obj, "__module__", "").startswith(prefix):
            continue
        obj.__module__ = __name__
        for member in vars(obj).values() if isinstance(obj, type) else ():
            func = getattr(member, "__func__", member)
            func = getattr(func, "fget", func)
            if getattr(func, "__module__", "").startswith(prefix):
                func.__module__ = __name__


_present_as_public(__all__)
