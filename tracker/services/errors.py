"""The tracker's domain errors: every service raises one of these; `status` is the HTTP status the APIs answer with."""

from __future__ import annotations


class TrackerError(Exception):
    """Base of every error this module raises; `status` is the HTTP status the API answers with."""

    status = 400

    def __init__(self, message: str = "", node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id

    @property
    def detail(self) -> str:
        return str(self)


class InvalidId(TrackerError, ValueError):
    status = 400


class InvalidInput(TrackerError, ValueError):
    status = 400


class AlreadyExists(TrackerError):
    status = 409


class Conflict(TrackerError):
    status = 409


class NotFound(TrackerError):
    status = 404


class Forbidden(TrackerError):
    status = 403
