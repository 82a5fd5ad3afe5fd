"""The kernel's domain error base: each app's error tree subclasses it, and the API maps it to HTTP in one place.

An app raises its own errors (``hosts.errors.NotFound``, ...) from its services without knowing about HTTP;
``syncsite.rest.exception_handler`` answers any of them as ``{"detail": ...}`` with the error's ``status``.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; ``status`` is the HTTP status an API answers it with."""

    status = 400
    default_detail = "Invalid request."

    @property
    def detail(self) -> str:
        """The message shown to the client: the error's text, or the class default when it has none."""
        return str(self) or self.default_detail
