"""DRF authentication with the kernel's API tokens, sent as `Authorization: Bearer <t>` or `Token <t>`."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from syncsite.tokens import BadToken, authenticate_token, token_from_header


class BearerTokenAuthentication(BaseAuthentication):
    """API tokens (`create_api_token`, the admin, signIn) with either header keyword: clients differ."""

    keyword = "Bearer"

    def authenticate(self, request: Request):
        try:
            raw = token_from_header(request)
        except BadToken as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from exc
        if raw is None:
            return None
        token = authenticate_token(raw)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid, expired or revoked token."))
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents API tokens in the OpenAPI schema."""

    target_class = "syncsite.auth.BearerTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (manage.py create_api_token, the admin, or POST /api/signIn/), "
            "sent as `Authorization: Bearer <token>` (or `Token <token>`).",
        }
