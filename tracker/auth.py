"""Who is calling the tracker's damas routes: an API token (the kernel's) or the browser session."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import HttpRequest

from syncsite.tokens import MAX_TOKEN_LENGTH, BadToken, token_from_header
from tracker import services

BadCredentials = BadToken  # the name the damas views catch
TOKEN_COOKIE = "token"  # noqa: S105 - damas-core's web pages keep the signIn token in this cookie
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _cross_site(request: HttpRequest) -> bool:
    """A browser sent this request from another site (a cookie must not authorise it: no CSRF token here).

    Browsers say where a request comes from (Sec-Fetch-Site, Origin); scripts (curl, requests) send neither."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc != request.get_host()


def token_from_request(request: HttpRequest) -> str | None:
    """The token of the Authorization header, else of the `token` cookie (damas' web pages set it).

    A cookie authorises a write only from the same site: a form on another site posting here gets no actor."""
    token = token_from_header(request)
    if token is not None:
        return token
    cookie = request.COOKIES.get(TOKEN_COOKIE)
    if not cookie:
        return None
    if len(cookie) > MAX_TOKEN_LENGTH:
        raise BadCredentials("invalid token cookie")
    if request.method not in SAFE_METHODS and _cross_site(request):
        raise BadCredentials("a token cookie is not accepted on a cross-site request: send Authorization")
    return cookie


def actor_for_request(request: HttpRequest, *, allow_session: bool) -> services.Actor | None:
    """Who is calling, or None; raises BadCredentials for a token that does not check out.

    Every API token works (signIn's and `create_api_token`'s), from the header or the `token` cookie; the
    session only where `allow_session`.
    """
    token = token_from_request(request)
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
