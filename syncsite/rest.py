"""DRF settings hooks (pagination, JSON errors). Kept import-light: DRF loads them while it starts."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from syncsite.errors import DomainError, as_domain_error

logger = logging.getLogger(__name__)


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=` like NetBox, with a hard ceiling so one request cannot pull a whole table."""

    default_limit = 50
    max_limit = 1000


class DomainAPIError(exceptions.APIException):
    """A domain error on its way through DRF's handler (which also rolls back an atomic request)."""

    def __init__(self, error: DomainError):
        super().__init__(error.detail)
        self.status_code = error.status


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error is `{"detail": ...}` JSON with a 4xx status; Django's own errors are mapped too.

    An app's domain error (a syncsite.errors.DomainError, or a registered foreign one such as synctools') is
    answered with its own `status`, whichever view raised it, so services raise their errors and no view
    translates them.
    """
    domain_error = as_domain_error(exc)
    if domain_error is not None:
        exc = DomainAPIError(domain_error)
    elif isinstance(exc, ValidationError):
        messages = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        exc = exceptions.ValidationError(messages)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        if isinstance(exc, DatabaseError):
            logger.exception("database error in %s", context.get("view"))
            return Response({"detail": "The database could not complete this request."}, status=503)
        return None
    if isinstance(response.data, list):
        response.data = {"detail": response.data}
    elif isinstance(response.data, dict) and "detail" not in response.data:
        response.data = {"detail": "Invalid input.", "errors": response.data}
    return response
