"""Sign-in brute-force protection (django-axes) wired to Syncsite: who the client is, how a lockout answers.

Failures are counted in the database per (user name, client address): an attacker elsewhere can lock
only their own pair, never the real administrator at their own address.
"""

from __future__ import annotations

import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off, get_lockout_message
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a locked-out (user, address) pair before any password is checked.

    Calls without a request come from code in this process (the shell, the test client's `login`),
    not from the network, and have no address to count against: they pass through to the next backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def client_ip(request: HttpRequest) -> str | None:
    """The caller's address: `REMOTE_ADDR`, or behind `TRUSTED_PROXY_COUNT` proxies the address they saw.

    Each trusted proxy appends the address it received from to X-Forwarded-For, so the client is the
    entry that many places from the right; entries further left are client-supplied and never trusted.
    """
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0))
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR")


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """429 for a locked-out pair: JSON `{"detail"}` on the API routes (signIn), axes' message page elsewhere."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    cool_off = get_cool_off(request)
    if request.path.startswith("/api/"):
        wait = f" Try again in {math.ceil(cool_off.total_seconds() / 60)} minutes." if cool_off else ""
        response = JsonResponse(
            {"detail": f"Too many failed sign-ins for this user from this address: sign-in is locked.{wait}"},
            status=status,
        )
    else:
        response = HttpResponse(get_lockout_message(), status=status, content_type="text/plain; charset=utf-8")
    if cool_off:
        response["Retry-After"] = str(math.ceil(cool_off.total_seconds()))
    return response
