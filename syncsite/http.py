"""The one way the Django apps make an outgoing HTTP session: a pooled requests.Session with retries and timeouts.

Libraries that must not depend on the site (synctools, the Syncthing bindings) keep their own sessions.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

#: Methods that may be sent again after a failure: repeating them does not repeat a side effect.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: Statuses that say "try again later": a gateway or an overloaded server, not a wrong request.
RETRY_STATUSES = (502, 503, 504)


class TimeoutHTTPAdapter(HTTPAdapter):
    """Gives every request without its own timeout the session's (no call waits forever); a read timeout
    that outlived the retries is raised as requests' ReadTimeout, not as a connection error."""

    def __init__(self, *args: Any, timeout: float, **kwargs: Any):
        self.timeout = timeout
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        try:
            return super().send(request, **kwargs)
        except requests.ConnectionError as exc:
            # After retries urllib3 reports a read timeout as MaxRetryError, which requests calls a
            # ConnectionError; callers deserve to see that it was a timeout.
            reason = getattr(exc.args[0], "reason", None) if exc.args else None
            if isinstance(reason, ReadTimeoutError):
                raise requests.exceptions.ReadTimeout(str(exc), request=exc.request) from exc
            raise


def new_session(
    *,
    timeout: float,
    retries: int,
    backoff_factor: float,
    retry_methods: Collection[str] = IDEMPOTENT_METHODS,
    retry_statuses: Collection[int] = RETRY_STATUSES,
) -> requests.Session:
    """A session whose connections are pooled, retried with backoff (connect errors, idempotent methods, the
    retry statuses, honouring Retry-After) and bounded by `timeout` unless a request names its own."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff_factor,
        allowed_methods=frozenset(retry_methods),
        status_forcelist=tuple(retry_statuses),
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    session = requests.Session()
    adapter = TimeoutHTTPAdapter(max_retries=retry, timeout=timeout)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
