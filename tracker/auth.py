"""Who is calling the tracker's damas routes: an API token (the kernel's) or the browser session."""

from __future__ import annotations

from django.http import HttpRequest

from syncsite.tokens import BadToken, token_from_header
from tracker import services

BadCredentials = BadToken  # the name the damas views catch


def actor_for_request(request: HttpRequest, *, allow_session: bool) -> services.Actor | None:
    """Who is calling, or None; raises BadCredentials for a token that does not check out.

    Every API token works (signIn's and `create_api_token`'s); the session only where `allow_session`.
    """
    token = token_from_header(request)
    if token is not None:
        actor = services.actor_for_token(token)
        if actor is None:
            raise BadCredentials("invalid, expired or revoked token")
        return actor
    if allow_session:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return services.actor_for(user)
    return None
