"""The errors synctools raises on purpose: one base class, `SynctoolsError`, with the HTTP status a web API answers.

synctools knows only Django, so its base is its own class, not the Syncsite kernel's `DomainError`. A project
that wants these errors answered by its API registers the base with its error handler (Syncsite does this in its
site wiring: `syncsite.errors.register_foreign(SynctoolsError)`); synctools' own routes answer them themselves,
with the same `{"detail": ...}` body.
"""

from __future__ import annotations


class SynctoolsError(Exception):
    """Base of synctools' errors; `http_status` is the status an HTTP API answers it with."""

    http_status = 400
    default_detail = "Invalid request."

    @property
    def detail(self) -> str:
        """The message shown to a client: the error's text, or the class default when it has none."""
        return str(self) or self.default_detail


class InvalidCursor(SynctoolsError, ValueError):
    """A `since` cursor that this site did not hand out (not a number, or negative)."""


class CursorExpired(SynctoolsError):
    """A `since` cursor older than the change log's retention (or of another log): only a full pull is complete."""

    http_status = 410
    default_detail = "The cursor is older than the change log's retention: a full pull is needed."


class SyncError(SynctoolsError):
    """A pull failed; the message names the URL and, for HTTP errors, the status.

    `status` is the remote site's HTTP status (None when it did not answer); to a client of this site's API the
    failure is the upstream's, hence `http_status` 502.
    """

    http_status = 502
    default_detail = "The remote site could not be pulled."

    def __init__(self, url: str, message: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(f"{url}: {message}")
