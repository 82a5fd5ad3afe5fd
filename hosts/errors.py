"""The hosts app's domain errors: what its services raise; the API layer maps them to HTTP statuses."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from syncsite.errors import DomainError


class HostsError(DomainError):
    """Base of every error the hosts services raise on purpose."""


class NotFound(HostsError):
    """No such host, rule or rule kind."""

    status = 404
    default_detail = "Not found."


class OwnershipError(HostsError, PermissionDenied):
    """The host is locked or owned by a master account; the message names the owner."""

    status = 403
    default_detail = "This account may not change the host."


class ImportRowsError(HostsError, ValueError):
    """A row cannot be imported; the run was rolled back. The message names the row."""
