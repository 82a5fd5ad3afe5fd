"""The syncthing_bridge app's domain errors: what its services raise; the API layer maps them to HTTP statuses."""

from __future__ import annotations

from syncsite.errors import DomainError
from syncthing_bridge.client import SyncthingError


class SyncthingBridgeError(DomainError):
    """Base of every error the syncthing_bridge services raise on purpose."""


class InstanceConfigError(SyncthingBridgeError, SyncthingError):
    """The instance is configured so that no call can work (e.g. a zero timeout, an API key no header can carry).

    Fix it, then try again (409). Also a SyncthingError, so every caller that reports a daemon's failure reports
    this one too, instead of crashing.
    """

    status = 409
    default_detail = "The Syncthing instance is misconfigured."


class DaemonError(SyncthingBridgeError):
    """The daemon answered with an error or could not be reached: the gateway's fault, not the client's (502)."""

    status = 502
    default_detail = "The Syncthing daemon could not complete the request."


class FleetInputError(SyncthingBridgeError, ValueError):
    """A fleet action cannot be carried out as asked (unknown folder, missing confirmation, a value the daemon
    rejects): the caller's to fix (400; on stderr from the command). Raise sites redact any URL or credential in
    the message (syncsite.redact): it is shown to the client as it is."""

    status = 400
    default_detail = "The change cannot be made as asked."
