"""The kernel's domain error base: each app's error tree subclasses it, and the API maps it to HTTP in one place.

An app raises its own errors (``hosts.errors.NotFound``, ...) from its services without knowing about HTTP;
``syncsite.rest.exception_handler`` answers any of them as ``{"detail": ...}`` with the error's ``status``.

An app that knows only Django (synctools) cannot subclass ``DomainError``: its base class is registered here by
the site wiring (``register_foreign``) and answered the same way. Registration, not duck typing: an exception's
``status`` attribute can mean something else (``SyncError.status`` is the remote site's status).
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A request the domain refuses; ``status`` is the HTTP status an API answers it with."""

    status = 400
    default_detail = "Invalid request."

    @property
    def detail(self) -> str:
        """The message shown to the client: the error's text, or the class default when it has none."""
        return str(self) or self.default_detail


_FOREIGN: dict[type[Exception], str] = {}  # error base of a Django-only app -> the attribute holding its HTTP status


def register_foreign(error_class: type[Exception], status_attribute: str = "http_status") -> None:
    """Answer `error_class` (and its subclasses) like a DomainError, with the status in `status_attribute`."""
    _FOREIGN[error_class] = status_attribute


def as_domain_error(exc: BaseException) -> DomainError | None:
    """`exc` as a DomainError: itself, a registered foreign error carried over (detail and status), or None."""
    if isinstance(exc, DomainError):
        return exc
    for error_class, attribute in _FOREIGN.items():
        if isinstance(exc, error_class):
            detail: Any = getattr(exc, "detail", None) or str(exc)
            error = DomainError(str(detail))
            error.status = int(getattr(exc, attribute, DomainError.status))
            return error
    return None
