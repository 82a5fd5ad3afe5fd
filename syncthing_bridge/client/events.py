"""``/rest/events``: the long-polling event stream, resumable and robust to daemon restarts."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from syncthing_bridge.client.base import DEFAULT_TIMEOUT, BaseAPI
from syncthing_bridge.client.errors import (
    SyncthingConnectionError,
    SyncthingError,
    SyncthingHTTPError,
    SyncthingNotFoundError,
    SyncthingUnauthorizedError,
)

#: Seconds the daemon holds an event long-poll open when nothing happens (its own default is 60).
DEFAULT_EVENT_POLL_SECONDS = 30

logger = logging.getLogger("syncthing_bridge.client")  # the bindings keep one log name


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

    def disk_batches(self) -> Iterator[list[dict]]:
        """Like ``disk_events``, one list per poll (``[]`` for an idle poll)."""
        return self._poll("events/disk", None, yield_idle=True)

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
