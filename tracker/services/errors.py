"""The tracker's domain errors: every service raises one of these, and the APIs answer each with its `status`.

They are `syncsite.errors.DomainError`s, so the kernel's DRF exception handler (`syncsite.rest`) answers them
like any app's; the damas routes map them in their one view wrapper (`tracker.api.damas.damas_view`).
"""

from __future__ import annotations

from syncsite.errors import DomainError


class TrackerError(DomainError):
    """Base of every error the tracker raises on purpose; `node_id` names the node it is about, when one is."""

    status = 400

    def __init__(self, message: str = "", node_id: str | None = None):
        super().__init__(message)
        self.node_id = node_id


class InvalidId(TrackerError, ValueError):
    status = 400
    default_detail = "Invalid _id."


class InvalidInput(TrackerError, ValueError):
    status = 400


class AlreadyExists(TrackerError):
    status = 409
    default_detail = "Already exists."


class Conflict(TrackerError):
    status = 409
    default_detail = "Conflict."


class NotFound(TrackerError):
    status = 404
    default_detail = "Not found."


class Forbidden(TrackerError):
    status = 403
    default_detail = "Forbidden."
