"""Errors the bindings raise: one base class, one subclass per way a call can fail."""

from __future__ import annotations


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
