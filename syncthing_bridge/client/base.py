"""The shared HTTP layer: one pooled session per client, requests turned into JSON or a SyncthingError.

Also the python-syncthing helpers for timestamps (``parse_datetime``, ``keys_to_datetime``)."""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Any

import requests
from dateutil import parser as dateutil_parser

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

DEFAULT_TIMEOUT = 10.0
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


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
