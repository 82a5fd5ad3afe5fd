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

The doctest-style examples below run against a live daemon in the test suite (``_syncthing()`` builds the client).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import namedtuple
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from dateutil import parser as dateutil_parser

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

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
#: Seconds the daemon holds an event long-poll open when nothing happens (its own default is 60).
DEFAULT_EVENT_POLL_SECONDS = 30
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


# --------------------------------------------------------------------------------------------------- errors


class SyncthingError(Exception):
    """Base Syncthing Exception class all non-assert errors will raise from."""


class SyncthingConnectionError(SyncthingError):
    """The daemon could not be reached (refused, reset, DNS, TLS): it is down or the URL is wrong."""

    def __init__(self, message: str, *, url: str | None = None):
        super().__init__(message)
        self.url = url


class SyncthingTimeoutError(SyncthingConnectionError):
    """The daemon accepted the connection but did not answer within the timeout."""


class SyncthingSSLError(SyncthingConnectionError):
    """TLS failed: the GUI certificate is not trusted by ``ssl_cert_file`` (or the system CAs)."""


class SyncthingHTTPError(SyncthingError):
    """The daemon answered with an HTTP error status; ``status_code``, ``method``, ``url`` and ``body`` say which."""

    def __init__(self, message: str, *, status_code: int, method: str, url: str, body: str = ""):
        super().__init__(message)
        self.status_code = status_code
        self.method = method
        self.url = url
        self.body = body


class SyncthingUnauthorizedError(SyncthingHTTPError):
    """The API key was rejected (Syncthing answers 401/403, "CSRF Error", without a valid key)."""


class SyncthingNotFoundError(SyncthingHTTPError):
    """The object asked for does not exist (no such folder, device, file...)."""


class SyncthingUnsupportedError(SyncthingNotFoundError):
    """This daemon's version has no such endpoint (e.g. ``/rest/noauth/health`` before it was added)."""


class SyncthingAPIError(SyncthingError):
    """The daemon answered 200 with ``{"error": "..."}`` in the body."""


class ErrorEvent(namedtuple("ErrorEvent", "when, message")):
    """tuple[datetime.datetime,str]: used to process error lists more easily, instead of by two-key dictionaries."""

    __slots__ = ()


# --------------------------------------------------------------------------------------------------- helpers


def parse_datetime(s: str | None, **kwargs: Any) -> datetime | None:
    """Converts a time-string into a valid DateTime object (``**kwargs`` go to ``dateutil.parser.parse``)."""
    if not s:
        return None
    try:
        return dateutil_parser.parse(s, **kwargs)
    except (OverflowError, TypeError, ValueError) as exc:
        raise SyncthingError(f"datetime parsing error from {s!r}: {exc}") from exc


def keys_to_datetime(obj: dict | None, *keys: str) -> dict | None:
    """Converts all the keys in an object to DateTime instances, in place.

    >>> keys_to_datetime(None) is None
    True
    >>> keys_to_datetime({})
    {}
    >>> a = {}
    >>> id(keys_to_datetime(a)) == id(a)
    True
    >>> a = {'one': '2016-06-06T19:41:43.039284',
    ...      'two': '2016-06-06T19:41:43.039284'}
    >>> keys_to_datetime(a) == a
    True
    >>> keys_to_datetime(a, 'one')['one']
    datetime.datetime(2016, 6, 6, 19, 41, 43, 39284)
    >>> keys_to_datetime(a, 'one')['two']
    '2016-06-06T19:41:43.039284'
    """
    if not keys or obj is None:
        return obj
    for key in keys:
        value = obj.get(key)
        if isinstance(value, str):
            obj[key] = parse_datetime(value)
    return obj


def _describe(exc: BaseException) -> str:
    """The innermost reason of a requests/urllib3 error, without the long wrapper chain."""
    reason = exc
    while reason.__context__ is not None and isinstance(reason, requests.RequestException):
        reason = reason.__context__
    text = str(reason) or reason.__class__.__name__
    return text if len(text) < 300 else text[:297] + "..."


def new_session(api_key: str | None, verify: bool | str, url: str | None = None) -> requests.Session:
    """The one HTTP session a client uses: the API key header is set once, the pool is reused by every call.

    The environment (proxy variables, REQUESTS_CA_BUNDLE) is read once here rather than on every request, which
    is where most of requests' per-call cost goes; ~/.netrc is not consulted (Syncthing authenticates by API key).
    """
    session = requests.Session()
    if api_key:
        session.headers["X-API-Key"] = api_key
    if url is not None:
        session.proxies.update(requests.utils.get_environ_proxies(url))
    session.verify = verify
    session.trust_env = False
    return session


def _environment_verify(ssl_cert_file: str | None) -> bool | str:
    """The CA bundle: ``ssl_cert_file`` when given, else the one the environment names, else the system's."""
    if ssl_cert_file:
        return ssl_cert_file
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


# --------------------------------------------------------------------------------------------------- base


class BaseAPI:
    """Placeholder for HTTP REST API URL prefix; does the requests and turns failures into SyncthingError."""

    prefix = ""

    def __init__(
        self,
        api_key: str,
        host: str = "localhost",
        port: int = 8384,
        timeout: float = DEFAULT_TIMEOUT,
        is_https: bool = False,
        ssl_cert_file: str | None = None,
        *,
        session: requests.Session | None = None,
    ):
        if ssl_cert_file is not None and not isinstance(ssl_cert_file, str):
            ssl_cert_file = str(ssl_cert_file)
        self.api_key = api_key
        self.host = host
        self.port = int(port)
        self.timeout = timeout
        self.is_https = bool(is_https)
        self.ssl_cert_file = ssl_cert_file
        # The certificate file is the CA bundle that signs the GUI certificate (Syncthing's is self-signed).
        self.verify: bool | str = _environment_verify(ssl_cert_file)
        proto = "https" if self.is_https else "http"
        host_part = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.url = f"{proto}://{host_part}:{self.port}"
        self._base_url = self.url + "{endpoint}"
        self.session = session if session is not None else new_session(api_key, self.verify, self.url)

    def get(
        self,
        endpoint: str,
        data: Any = None,
        headers: dict | None = None,
        params: dict | None = None,
        return_response: bool = False,
        raw_exceptions: bool = False,
        timeout: float | None = None,
    ) -> Any:
        return self._request(
            "GET", self.prefix + endpoint, data, headers, params, return_response, raw_exceptions, timeout
        )

    def post(
        self,
        endpoint: str,
        data: Any = None,
        headers: dict | None = None,
        params: dict | None = None,
        return_response: bool = False,
        raw_exceptions: bool = False,
        timeout: float | None = None,
    ) -> Any:
        return self._request(
            "POST", self.prefix + endpoint, data, headers, params, return_response, raw_exceptions, timeout
        )

    def put(self, endpoint: str, data: Any = None, params: dict | None = None, headers: dict | None = None) -> Any:
        return self._request("PUT", self.prefix + endpoint, data, headers, params)

    def patch(self, endpoint: str, data: Any = None, params: dict | None = None, headers: dict | None = None) -> Any:
        return self._request("PATCH", self.prefix + endpoint, data, headers, params)

    def delete(self, endpoint: str, params: dict | None = None, headers: dict | None = None) -> Any:
        return self._request("DELETE", self.prefix + endpoint, None, headers, params)

    def _request(
        self,
        method: str,
        endpoint: str,
        data: Any = None,
        headers: dict | None = None,
        params: dict | None = None,
        return_response: bool = False,
        raw_exceptions: bool = False,
        timeout: float | None = None,
    ) -> Any:
        method = method.upper()
        if method not in _METHODS:
            raise SyncthingError(f"unsupported http verb requested: {method}")
        url = self._base_url.format(endpoint=endpoint)
        body = None if data is None else json.dumps(data)
        try:
            resp = self.session.request(
                method,
                url,
                data=body,
                params=params,
                headers=headers,
                timeout=self.timeout if timeout is None else timeout,
                # per request, so that a shared or caller-made session checks against this client's CA bundle
                verify=self.verify,
            )
        except requests.RequestException as exc:
            if raw_exceptions:
                raise
            raise self._connection_error(exc, method, url) from exc
        if return_response:
            return resp
        if resp.status_code >= 300:
            raise self._http_error(resp, method, url)
        return self._decode(resp)

    @staticmethod
    def _decode(resp: requests.Response) -> Any:
        content = resp.content
        if not content:
            return ""
        if "json" in resp.headers.get("Content-Type", ""):
            payload = json.loads(content)
        else:
            text = content.decode("utf-8")
            if not (text[0] == "{" and text[-1] == "}"):
                return text
            payload = json.loads(text)
        if isinstance(payload, dict) and payload.get("error"):
            raise SyncthingAPIError(str(payload["error"]))
        return payload

    def _connection_error(self, exc: requests.RequestException, method: str, url: str) -> SyncthingConnectionError:
        reason = _describe(exc)
        if isinstance(exc, requests.exceptions.SSLError):
            return SyncthingSSLError(f"TLS error talking to {self.url} ({method} {url}): {reason}", url=url)
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return SyncthingTimeoutError(f"connecting to {self.url} timed out after {self.timeout}s: {reason}", url=url)
        if isinstance(exc, requests.exceptions.Timeout):
            return SyncthingTimeoutError(f"{method} {url} got no answer within {self.timeout}s: {reason}", url=url)
        if isinstance(exc, requests.exceptions.ConnectionError):
            return SyncthingConnectionError(f"cannot reach Syncthing at {self.url} ({method} {url}): {reason}", url=url)
        return SyncthingConnectionError(f"http request error: {method} {url}: {reason}", url=url)

    def _http_error(self, resp: requests.Response, method: str, url: str) -> SyncthingHTTPError:
        status = resp.status_code
        body = resp.text.strip()[:500]
        shown = url.split("?", 1)[0]
        kwargs = {"status_code": status, "method": method, "url": url, "body": body}
        if status in (401, 403):
            return SyncthingUnauthorizedError(
                f"Syncthing at {self.url} rejected the API key ({status} {body or resp.reason}) for {method} {shown}",
                **kwargs,
            )
        if status == 405 or (status == 404 and body == "404 page not found"):
            return SyncthingUnsupportedError(
                f"Syncthing {resp.headers.get('X-Syncthing-Version', '')} at {self.url} has no endpoint "
                f"{method} {shown}".replace("  ", " "),
                **kwargs,
            )
        if status == 404:
            return SyncthingNotFoundError(f"{method} {shown}: {body or 'not found'}", **kwargs)
        return SyncthingHTTPError(f"{method} {shown} failed with HTTP {status}: {body or resp.reason}", **kwargs)

    def close(self) -> None:
        """Close the pooled connections."""
        self.session.close()

    def __repr__(self) -> str:
        return f"<{self.__class__.__name__} {self.url}{self.prefix}>"


# --------------------------------------------------------------------------------------------------- system


class System(BaseAPI):
    """HTTP REST endpoint for System calls."""

    prefix = "/rest/system/"

    def browse(self, path: str | None = None) -> list[str]:
        """Returns a list of directories matching the path given (a glob pattern)."""
        params = None
        if path:
            assert isinstance(path, str)
            params = {"current": path}
        return self.get("browse", params=params)

    def config(self) -> dict:
        """Returns the current configuration.

        >>> s = _syncthing().system
        >>> config = s.config()
        >>> config
        ...
        {...}
        >>> 'version' in config and config['version'] >= 15
        True
        >>> 'folders' in config
        True
        >>> 'devices' in config
        True
        """
        return self.get("config")

    def set_config(self, config: dict, and_restart: bool = False) -> None:
        """Post the full configuration; saved to disk, configInSync becomes False until restarted."""
        assert isinstance(config, dict)
        self.post("config", data=config)
        if and_restart:
            self.restart()

    def config_insync(self) -> bool:
        """Returns whether the running configuration is the same as that on disk."""
        status = self.get("config/insync").get("configInSync", False)
        return bool(status)

    def connections(self) -> dict:
        """Returns the list of configured devices and some metadata associated with them.

        >>> s = _syncthing().system
        >>> connections = s.connections()
        >>> sorted([k for k in connections.keys()])
        ['connections', 'total']
        >>> isinstance(connections['connections'], dict)
        True
        >>> isinstance(connections['total'], dict)
        True
        """
        return self.get("connections")

    def debug(self) -> dict:
        """Returns the set of debug facilities and which of them are currently enabled.

        >>> s = _syncthing().system
        >>> debug = s.debug()
        >>> debug
        ...
        {...}
        >>> len(debug.keys())
        2
        >>> 'enabled' in debug and 'facilities' in debug
        True
        >>> isinstance(debug['enabled'], list) or debug['enabled'] is None
        True
        >>> isinstance(debug['facilities'], dict)
        True
        """
        return self.get("debug")

    def disable_debug(self, *on: str) -> None:
        """Disables debugging for specified facilities."""
        self.post("debug", params={"disable": ",".join(on)})

    def enable_debug(self, *on: str) -> None:
        """Enables debugging for specified facilities."""
        self.post("debug", params={"enable": ",".join(on)})

    def discovery(self) -> dict:
        """Returns the contents of the local discovery cache."""
        return self.get("discovery")

    def add_discovery(self, device: str, address: str) -> None:
        """Add an entry to the discovery cache."""
        self.post("discovery", params={"device": device, "addr": address})

    def clear(self) -> None:
        """Remove all recent errors."""
        self.post("error/clear")

    def clear_errors(self) -> None:
        """Alias function for clear()."""
        self.clear()

    def errors(self) -> list[ErrorEvent]:
        """Returns the list of recent errors as ErrorEvent tuples."""
        errors = self.get("error").get("errors") or []
        return [ErrorEvent(parse_datetime(err.get("when")), err.get("message", "")) for err in errors]

    def show_error(self, message: str) -> None:
        """Send an error message to the active client; shown on any active GUI clients.

        >>> s = _syncthing()
        >>> s.system.show_error('my error msg')
        >>> s.system.errors()[0]
        ...
        ErrorEvent(when=datetime.datetime(...), message='"my error msg"')
        >>> s.system.clear_errors()
        >>> s.system.errors()
        []
        """
        assert isinstance(message, str)
        self.post("error", data=message)

    def log(self) -> dict:
        """Returns the list of recent log entries."""
        return self.get("log")

    def pause(self, device: str) -> dict:
        """Pause the given device; returns {"success": bool, "error": str | None}."""
        return self._device_action("pause", device)

    def resume(self, device: str) -> dict:
        """Resume the given device; returns {"success": bool, "error": str | None}."""
        return self._device_action("resume", device)

    def _device_action(self, action: str, device: str) -> dict:
        resp = self.post(action, params={"device": device}, return_response=True)
        if resp.status_code in (401, 403):
            raise self._http_error(resp, "POST", resp.url)
        error = resp.text.strip() or None
        return {"success": resp.status_code == 200, "error": error}

    def ping(self, with_method: str = "GET") -> dict:
        """Pings the Syncthing server (GET or POST)."""
        assert with_method in ("GET", "POST")
        if with_method == "GET":
            return self.get("ping")
        return self.post("ping")

    def reset(self) -> None:
        """Erase the current index database and restart Syncthing."""
        self.post("reset")

    def reset_folder(self, folder: str) -> None:
        """Erase the database index from a given folder and restart Syncthing."""
        self.post("reset", params={"folder": folder})

    def restart(self) -> None:
        """Immediately restart Syncthing."""
        self.post("restart")

    def shutdown(self) -> None:
        """Causes Syncthing to exit and not restart."""
        self.post("shutdown")

    def status(self) -> dict:
        """Returns information about current system status and resource usage (``startTime`` as a datetime)."""
        return keys_to_datetime(self.get("status"), "startTime")

    def upgrade(self) -> dict:
        """Checks for a possible upgrade and returns an object describing the newest version."""
        return self.get("upgrade")

    def can_upgrade(self) -> bool:
        """Returns when there's a newer version than the instance running."""
        return bool(self.upgrade().get("newer", False))

    def do_upgrade(self) -> None:
        """Perform an upgrade to the newest released version and restart."""
        self.post("upgrade")

    def version(self) -> dict:
        """Returns the current Syncthing version information."""
        return self.get("version")

    # -- newer daemons ------------------------------------------------------------------------------------------

    def paths(self) -> dict:
        """Where the daemon keeps its config, database, certificates (Syncthing >= 1.21)."""
        return self.get("paths")

    def loglevels(self) -> dict:
        """Log levels per facility (Syncthing >= 2.0; older daemons: use debug())."""
        return self.get("loglevels")

    def set_loglevels(self, levels: dict[str, str]) -> None:
        """Set log levels per facility, e.g. {"model": "DEBUG"} (Syncthing >= 2.0)."""
        self.post("loglevels", data=levels)

    def config_restart_required(self) -> bool:
        """True when a config change waits for a restart to take effect."""
        return bool(self._request("GET", "/rest/config/restart-required").get("requiresRestart", False))


# --------------------------------------------------------------------------------------------------- database


class Database(BaseAPI):
    """HTTP REST endpoint for Database calls."""

    prefix = "/rest/db/"

    def browse(self, folder: str, levels: int | None = None, prefix: str | None = None) -> dict:
        """Returns the directory tree of the global model."""
        assert isinstance(levels, int) or levels is None
        assert isinstance(prefix, str) or prefix is None
        return self.get("browse", params={"folder": folder, "levels": levels, "prefix": prefix})

    def completion(self, device: str, folder: str) -> int:
        """Returns the completion percentage (0 to 100) for a given device and folder."""
        return self.get("completion", params={"folder": folder, "device": device}).get("completion")

    def completion_details(self, folder: str | None = None, device: str | None = None) -> dict:
        """The whole completion answer: completion, needBytes, needItems, globalBytes, needDeletes, ..."""
        return self.get("completion", params={"folder": folder, "device": device})

    def file(self, folder: str, file_: str) -> dict:
        """Returns most data available about a given file, including version and availability."""
        return self.get("file", params={"folder": folder, "file": file_})

    def ignores(self, folder: str) -> dict:
        """Returns the content of the .stignore as ``ignore`` and the expanded globs as ``expanded``."""
        return self.get("ignores", params={"folder": folder})

    def set_ignores(self, folder: str, *patterns: str) -> dict:
        """Applies patterns to folder's .stignore file."""
        if not patterns:
            return {}
        return self.post("ignores", params={"folder": folder}, data={"ignore": list(patterns)})

    def need(self, folder: str, page: int | None = None, perpage: int | None = None) -> dict:
        """Returns lists of files which are needed by this device in order for it to become in sync."""
        assert isinstance(page, int) or page is None
        assert isinstance(perpage, int) or perpage is None
        return self.get("need", params={"folder": folder, "page": page, "perpage": perpage})

    def override(self, folder: str) -> dict:
        """Request override of a send-only folder."""
        return self.post("override", params={"folder": folder}) or {}

    def prio(self, folder: str, file_: str) -> dict:
        """Moves the file to the top of the download queue."""
        return self.post("prio", params={"folder": folder, "file": file_}) or {}

    def scan(self, folder: str, sub: str | None = None, next_: int | None = None) -> str:
        """Request immediate rescan of a folder, or a specific path within a folder."""
        if not sub:
            sub = ""
        assert isinstance(sub, str)
        assert isinstance(next_, int) or next_ is None
        return self.post("scan", params={"folder": folder, "sub": sub, "next": next_})

    def status(self, folder: str) -> dict:
        """Returns information about the current status of a folder (expensive on the daemon)."""
        return self.get("status", params={"folder": folder})

    # -- not in python-syncthing --------------------------------------------------------------------------------

    def remoteneed(self, folder: str, device: str, page: int | None = None, perpage: int | None = None) -> dict:
        """Files ``device`` still needs from this folder (as this daemon knows it)."""
        return self.get("remoteneed", params={"folder": folder, "device": device, "page": page, "perpage": perpage})

    def localchanged(self, folder: str, page: int | None = None, perpage: int | None = None) -> dict:
        """Files changed locally in a receive-only folder."""
        return self.get("localchanged", params={"folder": folder, "page": page, "perpage": perpage})

    def revert(self, folder: str) -> None:
        """Revert local changes of a receive-only folder to the global state."""
        self.post("revert", params={"folder": folder})


# --------------------------------------------------------------------------------------------------- stats/misc


class Statistics(BaseAPI):
    """HTTP REST endpoint for Statistic calls."""

    prefix = "/rest/stats/"

    def device(self) -> dict:
        """Returns general statistics about devices (last seen, last connection duration)."""
        return self.get("device")

    def folder(self) -> dict:
        """Returns general statistics about folders (last scan time, last synced file)."""
        return self.get("folder")


class Misc(BaseAPI):
    """HTTP REST endpoint for Miscellaneous calls."""

    prefix = "/rest/svc/"

    def device_id(self, id_: str) -> str:
        """Verifies and formats a device ID; raises SyncthingError when it is invalid."""
        resp = self.get("deviceid", params={"id": id_})
        if isinstance(resp, dict) and "id" in resp:
            return resp["id"]
        raise SyncthingAPIError(str(resp.get("error") if isinstance(resp, dict) else resp))

    def language(self) -> list[str]:
        """Returns a list of canonicalized localization codes from the Accept-Language header.

        >>> s = _syncthing()
        >>> len(s.misc.language())
        1
        >>> s.misc.language()[0]
        ''
        >>> s.misc.get('lang', headers={'Accept-Language': 'en-us'})
        ['en-us']
        """
        return self.get("lang")

    def random_string(self, length: int | None = 32) -> str:
        """Returns a strong random generated string (alphanumeric) of the specified length.

        >>> s = _syncthing()
        >>> len(s.misc.random_string())
        32
        >>> len(s.misc.random_string(32))
        32
        >>> len(s.misc.random_string(1))
        1
        >>> len(s.misc.random_string(0))
        32
        >>> len(s.misc.random_string(None))
        32
        >>> import string
        >>> all_letters = string.ascii_letters + string.digits
        >>> all([c in all_letters for c in s.misc.random_string(128)])
        True
        >>> all([c in all_letters for c in s.misc.random_string(1024)])
        True
        """
        return self.get("random/string", params={"length": length}).get("random")

    def report(self) -> dict:
        """Returns the data sent in the anonymous usage report.

        >>> s = _syncthing()
        >>> report = s.misc.report()
        >>> 'version' in report
        True
        >>> 'longVersion' in report
        True
        >>> 'syncthing v' in report['longVersion']
        True
        """
        return self.get("report")


# --------------------------------------------------------------------------------------------------- modern API


class ConfigObject:
    """One object of the config (options, gui, ldap, defaults/folder, defaults/device): get, put, patch."""

    def __init__(self, api: BaseAPI, path: str):
        self._api = api
        self._path = path

    def get(self) -> dict:
        return self._api._request("GET", self._path)

    def put(self, value: dict) -> None:
        self._api._request("PUT", self._path, value)

    def patch(self, changes: dict) -> None:
        self._api._request("PATCH", self._path, changes)


class ConfigCollection:
    """Folders or devices of the config: list, get, add (one or many), put, patch, delete by id."""

    def __init__(self, api: BaseAPI, path: str, id_key: str):
        self._api = api
        self._path = path
        self._id_key = id_key

    def _item(self, item_id: str) -> str:
        return f"{self._path}/{quote(item_id, safe='')}"

    def list(self) -> list[dict]:
        return self._api._request("GET", self._path)

    def get(self, item_id: str) -> dict:
        return self._api._request("GET", self._item(item_id))

    def add(self, item: dict | Iterable[dict]) -> None:
        """Add (or replace) one object, or several; unset fields take the configured defaults."""
        for one in [item] if isinstance(item, dict) else item:
            self._api._request("POST", self._path, one)

    def put(self, item: dict) -> None:
        """Replace (or create) the object whose id is in ``item``."""
        self._api._request("PUT", self._item(item[self._id_key]), item)

    def patch(self, item_id: str, changes: dict) -> None:
        self._api._request("PATCH", self._item(item_id), changes)

    def delete(self, item_id: str) -> None:
        self._api._request("DELETE", self._item(item_id))

    def replace_all(self, items: list[dict]) -> None:
        """Replace the whole list (PUT on the collection)."""
        self._api._request("PUT", self._path, items)


class Config(BaseAPI):
    """``/rest/config``: the whole config and its parts, with get/put/patch/delete (Syncthing >= 1.12)."""

    prefix = "/rest/config/"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.folders = ConfigCollection(self, "/rest/config/folders", "id")
        self.devices = ConfigCollection(self, "/rest/config/devices", "deviceID")
        self.options = ConfigObject(self, "/rest/config/options")
        self.gui = ConfigObject(self, "/rest/config/gui")
        self.ldap = ConfigObject(self, "/rest/config/ldap")
        self.default_folder = ConfigObject(self, "/rest/config/defaults/folder")
        self.default_device = ConfigObject(self, "/rest/config/defaults/device")
        self.default_ignores = ConfigObject(self, "/rest/config/defaults/ignores")

    def get_config(self) -> dict:
        """The whole configuration."""
        return self._request("GET", "/rest/config")

    def put_config(self, config: dict) -> None:
        """Replace the whole configuration (applied at once where the daemon can)."""
        self._request("PUT", "/rest/config", config)

    def insync(self) -> bool:
        """False when the saved config differs from the running one (a restart is needed)."""
        return bool(self.get("insync").get("configInSync", False))

    def restart_required(self) -> bool:
        """True when a change waits for a restart."""
        return bool(self.get("restart-required").get("requiresRestart", False))


class Cluster(BaseAPI):
    """``/rest/cluster``: devices and folders other devices offered and this one has not accepted yet."""

    prefix = "/rest/cluster/"

    def pending_devices(self) -> dict:
        """{device_id: {"time", "name", "address"}} of devices that tried to connect."""
        return self.get("pending/devices")

    def pending_folders(self, device: str | None = None) -> dict:
        """{folder_id: {"offeredBy": {device_id: {...}}}} of folders offered to this device."""
        return self.get("pending/folders", params={"device": device})

    def accept_device(self, device_id: str, name: str | None = None, **settings: Any) -> None:
        """Add a pending device to the config (which removes it from the pending list)."""
        pending = self.pending_devices().get(device_id, {})
        device = {"deviceID": device_id, "name": name or pending.get("name", ""), **settings}
        self._request("POST", "/rest/config/devices", device)

    def dismiss_device(self, device_id: str) -> None:
        self.delete("pending/devices", params={"device": device_id})

    def accept_folder(self, folder_id: str, device_id: str, path: str | None = None, **settings: Any) -> None:
        """Share ``folder_id`` with the offering device: add the device to the folder, or create the folder."""
        try:
            folder = self._request("GET", f"/rest/config/folders/{quote(folder_id, safe='')}")
        except SyncthingNotFoundError:
            folder = None
        if folder is not None:
            devices = folder.get("devices") or []
            if all(d.get("deviceID") != device_id for d in devices):
                devices.append({"deviceID": device_id})
            self._request(
                "PATCH", f"/rest/config/folders/{quote(folder_id, safe='')}", {"devices": devices, **settings}
            )
            return
        if not path:
            raise SyncthingError(f"folder {folder_id!r} is new here: give the path where to keep it")
        offered = self.pending_folders().get(folder_id, {}).get("offeredBy", {}).get(device_id, {})
        new = {
            "id": folder_id,
            "label": offered.get("label", folder_id),
            "path": path,
            "devices": [{"deviceID": device_id}],
            **settings,
        }
        self._request("POST", "/rest/config/folders", new)

    def dismiss_folder(self, folder_id: str, device_id: str | None = None) -> None:
        self.delete("pending/folders", params={"folder": folder_id, "device": device_id})


class Folder(BaseAPI):
    """``/rest/folder``: per-folder errors and file versions."""

    prefix = "/rest/folder/"

    def errors(self, folder: str, page: int | None = None, perpage: int | None = None) -> dict:
        """{"folder", "errors": [{"path", "error"}], "page", "perpage"}: files that failed to sync."""
        return self.get("errors", params={"folder": folder, "page": page, "perpage": perpage})

    def versions(self, folder: str) -> dict:
        """{path: [{"versionTime", "modTime", "size"}]}: archived versions kept by the folder's versioning."""
        return self.get("versions", params={"folder": folder})

    def restore(self, folder: str, versions: dict[str, str]) -> dict:
        """Restore {path: versionTime}; returns {path: error} for the ones that failed."""
        return self.post("versions", params={"folder": folder}, data=versions)


class NoAuth(BaseAPI):
    """``/rest/noauth``: calls that need no API key (Syncthing >= 1.21 for health)."""

    prefix = "/rest/noauth/"

    def health(self) -> dict:
        """{"status": "OK"} when the daemon is up."""
        return self.get("health")


# --------------------------------------------------------------------------------------------------- events


class Events(BaseAPI):
    """HTTP REST endpoints for Event based calls: a blocking generator over Syncthing's long-polling interface.

    ``limit`` is accepted for compatibility but never sent: the daemon would answer with only the newest
    ``limit`` events of a burst and the older ones would be lost. ``poll_timeout`` is how long the daemon holds a
    poll open; the HTTP timeout is ``poll_timeout + timeout`` so an idle poll never looks like a failure. When the
    daemon goes away the stream waits (``retry_delay`` doubling up to ``max_retry_delay``) and goes on; when it
    comes back restarted (ids start over) the stream resumes from the first event of the new run.
    """

    prefix = "/rest/"

    def __init__(
        self,
        api_key: str,
        last_seen_id: int | None = None,
        filters: str | list[str] | None = None,
        limit: int | None = None,
        *args: Any,
        poll_timeout: int = DEFAULT_EVENT_POLL_SECONDS,
        retry_delay: float = 0.5,
        max_retry_delay: float = 30.0,
        max_retries: int | None = None,
        **kwargs: Any,
    ):
        super().__init__(api_key, *args, **kwargs)
        self._last_seen_id = int(last_seen_id or 0)
        if isinstance(filters, str):
            filters = [f for f in filters.split(",") if f]
        self._filters = list(filters or [])
        self._limit = limit
        self._count = 0
        self.blocking = True
        self.poll_timeout = int(poll_timeout)
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self.max_retries = max_retries
        #: How many times the stream noticed the daemon had restarted and started over.
        self.restarts = 0
        #: The last connection problem (None while connected), for status displays.
        self.last_error: SyncthingError | None = None
        self._stopped = threading.Event()

    @property
    def count(self) -> int:
        """The number of events that have been processed by this event stream."""
        return self._count

    @property
    def last_seen_id(self) -> int:
        """Id of the last event yielded; pass it back as ``last_seen_id`` to resume a stream later."""
        return self._last_seen_id

    def stop(self) -> None:
        """Breaks the loop while the generator is polling for event changes (after the current poll)."""
        self.blocking = False
        self._stopped.set()

    def __iter__(self) -> Iterator[dict]:
        return self._events("events", self._filters)

    def disk_events(self) -> Iterator[dict]:
        """Blocking generator of disk related events (LocalChangeDetected, RemoteChangeDetected)."""
        return self._events("events/disk", None)

    def _newest_id(self, using_url: str, filters: list[str] | None = None) -> int:
        """Id of the newest event the daemon holds (0 if none), asked without waiting.

        With ``filters`` this also creates the daemon's filtered subscription, which only buffers events from its
        first request on.
        """
        params: dict[str, Any] = {"since": 0, "limit": 1, "timeout": 0}
        if filters:
            params["events"] = ",".join(filters)
        data = self.get(using_url, params=params)
        return data[-1]["id"] if data else 0

    def _restarted(self, using_url: str, filters: list[str] | None = None) -> bool:
        """True when the daemon's newest event id is below the one we saw: it restarted and ids started over."""
        if self._last_seen_id <= 0:
            return False
        # ids count per subscription (each filter set has its own): ask the same subscription
        return self._newest_id(using_url, filters) < self._last_seen_id

    def batches(self) -> Iterator[list[dict]]:
        """Like iterating the stream, but one list per poll (``[]`` for an idle poll), to process bursts at once.

        ``last_seen_id`` and ``count`` already include the batch when it is yielded.
        """
        return self._poll("events", self._filters, yield_idle=True)

    def _events(self, using_url: str, filters: list[str] | None) -> Iterator[dict]:
        for batch in self._poll(using_url, filters, per_event=True):
            for event in batch:
                if not self.blocking:
                    return  # stopped mid-batch: last_seen_id is the last event handed out
                self._last_seen_id = event["id"]
                self._count += 1
                yield event

    def _poll(
        self, using_url: str, filters: list[str] | None, yield_idle: bool = False, per_event: bool = False
    ) -> Iterator[list[dict]]:
        self.blocking = True
        self._stopped.clear()
        params: dict[str, Any] = {}
        if filters:
            params["events"] = ",".join(map(str, filters))
        check_restart = self._last_seen_id > 0
        failures = 0
        while self.blocking:
            try:
                if check_restart:
                    check_restart = False
                    if self._restarted(using_url, filters):
                        logger.info("%s restarted (event ids started over); resuming from its first event", self.url)
                        self.restarts += 1
                        self._last_seen_id = 0
                params["since"] = self._last_seen_id
                params["timeout"] = self.poll_timeout  # may be changed between polls
                data = self.get(using_url, params=params, timeout=self.poll_timeout + (self.timeout or DEFAULT_TIMEOUT))
            except (SyncthingConnectionError, SyncthingHTTPError) as exc:
                if isinstance(exc, SyncthingUnauthorizedError | SyncthingNotFoundError):
                    raise
                if isinstance(exc, SyncthingHTTPError) and exc.status_code < 500:
                    raise
                failures += 1
                self.last_error = exc
                if self.max_retries is not None and failures > self.max_retries:
                    raise
                delay = min(self.retry_delay * (2 ** min(failures - 1, 16)), self.max_retry_delay)
                logger.info("event stream of %s: %s; retrying in %.1fs", self.url, exc, delay)
                check_restart = True
                if self._stopped.wait(delay):
                    break
                continue
            failures = 0
            self.last_error = None
            if not data:
                # An idle poll: also how a restart between two polls shows (the new ids are all below ours).
                check_restart = True
                if yield_idle:
                    yield []
                continue
            if not per_event:
                self._last_seen_id = data[-1]["id"]
                self._count += len(data)
            yield data


# --------------------------------------------------------------------------------------------------- facade


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
