"""API tokens: issue, check and revoke them, and read them from the Authorization header.

One token model (`syncsite.models.ApiToken`) serves DRF, the tracker's damas routes and signIn. A token
is 40 URL-safe characters; the database keeps its first characters (to tell tokens apart) and the
SHA-256 of the whole token (to check it), never the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authentication import get_authorization_header

from syncsite.models import ApiToken

TOKEN_BYTES = 30  # 40 characters once base64url-encoded
PREFIX_LENGTH = 8
MAX_TOKEN_LENGTH = 256
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token per minute
HEADER_KEYWORDS = (b"bearer", b"token")


class BadToken(Exception):
    """A token was presented and it is malformed, unknown, expired or revoked."""


def token_digest(raw: str) -> str:
    """The stored form of a token: SHA-256, hex (the tracker's signIn tokens were already kept this way)."""
    return hashlib.sha256(raw.encode()).hexdigest()


def set_new_secret(token: ApiToken) -> str:
    """Give an unsaved `token` a fresh secret (its prefix and digest); the raw token is returned, never stored."""
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    token.prefix = raw[:PREFIX_LENGTH]
    token.digest = token_digest(raw)
    return raw


def issue_token(user, *, label: str, expires_in: int | None = None, agent: bool = False) -> tuple[ApiToken, str]:
    """A new token for `user`, and the raw token to hand over once. `expires_in` 0/None: never expires."""
    now = timezone.now()
    token = ApiToken(
        user=user,
        label=label,
        created=now,
        expires=now + timedelta(seconds=expires_in) if expires_in else None,
        agent=agent,
    )
    raw = set_new_secret(token)
    token.save(force_insert=True)
    return token, raw


def authenticate_token(raw: str, *, related: tuple[str, ...] = ()) -> ApiToken | None:
    """The live token `raw` stands for, with its user loaded; None when unknown, expired, revoked or inactive.

    One indexed query (by digest); `related` names more relations to load with it (e.g. a profile).
    """
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    digest = token_digest(raw)
    token = ApiToken.objects.select_related("user", *related).filter(digest=digest).first()
    now = timezone.now()
    if token is None or not hmac.compare_digest(token.digest, digest):
        return None
    if not token.is_live(now) or not token.user.is_active:
        return None
    if token.last_used is None or now - token.last_used >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
    return token


def revoke(target) -> int:
    """Revoke a token (an `ApiToken`), a queryset of tokens, or every token of a user; how many were live."""
    if isinstance(target, ApiToken):
        tokens = ApiToken.objects.filter(pk=target.pk)
    elif isinstance(target, QuerySet):
        tokens = target
    else:
        tokens = ApiToken.objects.filter(user=target)
    with transaction.atomic():
        return tokens.filter(revoked__isnull=True).update(revoked=timezone.now())


def purge_expired(user, *, label: str) -> int:
    """Delete `user`'s expired tokens of one label (signIn makes one per sign-in: keep the table small)."""
    return ApiToken.objects.filter(user=user, label=label, expires__lt=timezone.now()).delete()[0]


def token_from_header(request: HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer <t>` or `Token <t>` header; None without such a header.

    Raises BadToken for a header of that kind that does not hold exactly one token of text.
    """
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() not in HEADER_KEYWORDS:
        return None
    if len(parts) != 2:
        raise BadToken("Invalid Authorization header: expected 'Bearer <token>' (or 'Token <token>').")
    try:
        return parts[1].decode()
    except UnicodeError as exc:
        raise BadToken("Invalid Authorization header: the token is not text.") from exc
