"""Who is calling the tracker: signIn tokens (stored hashed), DRF tokens, or the browser session."""

from __future__ import annotations

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from tracker import services

KEYWORDS = (b"bearer", b"token")


class BadCredentials(Exception):
    """A token was presented and it is unknown, expired or malformed."""


def presented_token(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer <t>` (or `Token <t>`) header; None when there is no such header."""
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() not in KEYWORDS:
        return None
    if len(parts) != 2:
        raise BadCredentials("invalid Authorization header: expected 'Bearer <token>'")
    try:
        return parts[1].decode()
    except UnicodeError as exc:
        raise BadCredentials("invalid Authorization header: the token is not text") from exc


def actor_for_request(request: HttpRequest, *, allow_session: bool) -> services.Actor | None:
    """Who is calling, or None; raises BadCredentials for a token that does not check out.

    signIn tokens and DRF tokens (`create_api_token`) both work; the session only where `allow_session`.
    """
    token = presented_token(request)
    if token is not None:
        actor = services.actor_for_token(token)
        if actor is None:
            raise BadCredentials("invalid or expired token")
        return actor
    if allow_session:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return services.actor_for(user)
    return None


class TrackerTokenAuthentication(BaseAuthentication):
    """DRF authentication for signIn tokens, so damas clients can use the /api/v1/tracker/ views too."""

    keyword = "Bearer"

    def authenticate(self, request):
        try:
            token = presented_token(request)
        except BadCredentials as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        if token is None:
            return None
        user = services.user_for_token(token)
        if user is None:
            return None  # let the next class (DRF tokens) try, it reports the failure
        return user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class TrackerTokenScheme(OpenApiAuthenticationExtension):
    """Documents signIn tokens in the OpenAPI schema."""

    target_class = "tracker.auth.TrackerTokenAuthentication"
    name = "trackerSignInToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from POST /api/signIn/ (damas-core), sent as Authorization: Bearer <token>.",
        }
