"""Users and tokens: the `@username` nodes, user classes, signIn tokens."""

from __future__ import annotations

import re

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db import transaction

from syncsite import taskqueue, tokens
from tracker import conf
from tracker.models import Node, TrackerProfile, UserClass
from tracker.services.actors import Actor, user_class_of
from tracker.services.columns import _make_node, _set_columns, now_ms
from tracker.services.errors import InvalidInput, NotFound


def user_node(user) -> dict:
    """The read-only `@username` node of a Django user (never any password)."""
    return {
        "_id": f"@{user.get_username()}",
        "username": user.get_username(),
        "class": user_class_of(user),
        "email": user.email or "",
        "fullname": user.get_full_name(),
        "active": user.is_active,
    }


def sync_user_node(user) -> None:
    """Keep the `@username` node in step with the Django user (called on user and profile saves)."""
    wire = user_node(user)
    node_id = wire.pop("_id")
    with transaction.atomic():
        node = Node.objects.filter(node_id=node_id).first()
        if node is None:
            wire["time"] = now_ms()
            Node.objects.bulk_create([_make_node(node_id, wire)])
        elif any(node.data.get(k) != v for k, v in wire.items()):
            node.data.update(wire)
            _set_columns(node)
            node.save()


def remove_user_node(username: str) -> None:
    with transaction.atomic():
        Node.objects.filter(node_id=f"@{username}").delete()


def set_user_class(user, user_class: str) -> None:
    if user_class not in UserClass.values:
        raise InvalidInput(f"unknown class {user_class!r}")
    with transaction.atomic():
        TrackerProfile.objects.update_or_create(user=user, defaults={"user_class": user_class})
        sync_user_node(user)


SIGN_IN_LABEL = "signIn"


_DAMAS_USERNAME = re.compile(r"^[a-z][-a-z0-9_]*$")


def login_name(login: str) -> str:
    """The username a signIn's `username` field stands for: damas takes a user name or an e-mail address.

    A value shaped like a damas user name, or naming an existing user, is that user; otherwise the one active
    user with that e-mail address (none, or several sharing it: the value is used as given and fails).
    """
    User = get_user_model()
    field = User.USERNAME_FIELD
    if _DAMAS_USERNAME.match(login) or "@" not in login or User.objects.filter(**{field: login}).exists():
        return login
    names = list(User.objects.filter(email__iexact=login, is_active=True).values_list(field, flat=True)[:2])
    return names[0] if len(names) == 1 else login


def sign_in(username: str, password: str, expires_in: int | None = None, request=None) -> dict | None:
    """Check the credentials (`username` may be an e-mail address) and issue an API token labelled signIn;
    None on bad credentials. 0 = never expires; None: TRACKER_TOKEN_EXPIRY_SECONDS.

    Pass the request: sign-in failures are counted per (user, address) and a locked-out pair is refused.
    """
    user = authenticate(request, username=login_name(username), password=password)
    if user is None or not user.is_active:
        return None
    if request is not None:
        # A sign-in like the admin's: last_login is recorded and the failure count of (user, address) reset.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
    if expires_in is None:
        expires_in = conf.token_default_expiry_seconds()
    with transaction.atomic():
        _token, raw = tokens.issue_token(user, label=SIGN_IN_LABEL, expires_in=expires_in)
        tokens.purge_expired(user, label=SIGN_IN_LABEL)
    node = user_node(user)
    return {"_id": node["_id"], "user": node, "token": raw}


def user_for_token(token: str):
    """The active user an API token belongs to, or None (unknown, expired, revoked, inactive)."""
    found = tokens.authenticate_token(token, related=("user__tracker_profile",))
    return found.user if found is not None else None


def actor_for_token(token: str) -> Actor | None:
    """Who an API token speaks for (class from the user, agent capability from the token); None when invalid."""
    found = tokens.authenticate_token(token, related=("user__tracker_profile",))
    if found is None:
        return None
    return Actor(found.user.get_username(), user_class_of(found.user), agent=found.agent)


def revoke_tokens(user) -> int:
    """Revoke every live API token of `user` (signIn's and the others); how many were revoked."""
    return tokens.revoke(user)


def user_model():
    return get_user_model()


# --------------------------------------------------------------------------------------------- script tokens

SCRIPT_TOKEN_LABEL = "createToken"  # noqa: S105 - a label, not a secret
MAX_LABEL_LENGTH = 100


def _epoch_ms(moment) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def token_row(token) -> dict:
    """What a token listing shows of one token: never its secret, only its first characters."""
    return {
        "id": token.pk,
        "username": token.user.get_username(),
        "label": token.label,
        "prefix": token.prefix,
        "created": _epoch_ms(token.created),
        "expires": _epoch_ms(token.expires),
        "lastUsed": _epoch_ms(token.last_used),
        "revoked": _epoch_ms(token.revoked),
        "agent": token.agent,
    }


def create_script_token(actor: Actor, *, label: str = "", expires_in: int | None = None) -> dict:
    """A long-lived token of the signed-in user for scripts (0 = never expires; None: the setting's default).

    The raw token is in the answer once and nowhere else; the new token has no agent capability."""
    if not isinstance(label, str) or len(label) > MAX_LABEL_LENGTH:
        raise InvalidInput(f"label must be text of at most {MAX_LABEL_LENGTH} characters")
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: actor.name}, is_active=True).first()
    if user is None:
        raise NotFound(f"user {actor.name} not found", f"@{actor.name}")
    if expires_in is None:
        expires_in = conf.script_token_expiry_seconds()
    with transaction.atomic():
        token, raw = tokens.issue_token(user, label=label.strip() or SCRIPT_TOKEN_LABEL, expires_in=expires_in)
    return {**token_row(token), "token": raw}


def _tokens_for(actor: Actor):
    from syncsite.models import ApiToken

    qs = ApiToken.objects.select_related("user")
    if not actor.is_admin:
        qs = qs.filter(**{f"user__{get_user_model().USERNAME_FIELD}": actor.name})
    return qs


def list_tokens(actor: Actor, username: str | None = None, *, limit: int = 1000) -> list[dict]:
    """The caller's tokens (an admin: everyone's, or one user's), newest first, live and revoked."""
    qs = _tokens_for(actor)
    if username:
        qs = qs.filter(**{f"user__{get_user_model().USERNAME_FIELD}": username})
    return [token_row(t) for t in qs.order_by("-created", "-pk")[:limit]]


def revoke_token(actor: Actor, token_id: int) -> dict:
    """Revoke one token: its owner or an admin may; NotFound for any other (no telling whose it is)."""
    with transaction.atomic():
        token = _tokens_for(actor).select_for_update(of=("self",)).filter(pk=token_id).first()
        if token is None:
            raise NotFound(f"token {token_id} not found", str(token_id))
        tokens.revoke(token)
        token.refresh_from_db()
    return token_row(token)


# --------------------------------------------------------------------------------------------- passwords

RESET_SEPARATOR = "."


def lost_password(email: str, request) -> int:
    """Mail a password reset link to the active users with this address, through the site's mail backend.

    How many were mailed (the API does not tell the caller, so nobody learns which addresses exist). The
    token is Django's (one use, PASSWORD_RESET_TIMEOUT) and goes to `/api/resetPassword/<token>`."""
    from django.contrib.auth.forms import PasswordResetForm
    from django.contrib.auth.tokens import default_token_generator
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    form = PasswordResetForm({"email": email})
    if not form.is_valid():
        raise InvalidInput("email must be an e-mail address")
    sent = 0
    for user in form.get_users(form.cleaned_data["email"]):
        # one mail per user per interval: the lease is never released, it lapses (syncsite.taskqueue)
        if taskqueue.acquire(f"tracker.lost_password:{user.pk}", conf.password_reset_interval_seconds()) is None:
            continue
        token = urlsafe_base64_encode(force_bytes(user.pk)) + RESET_SEPARATOR + default_token_generator.make_token(user)
        context = {
            "user": user,
            "username": user.get_username(),
            "token": token,
            "reset_url": request.build_absolute_uri(f"/api/resetPassword/{token}"),
            "site": request.get_host(),
        }
        body = render_to_string("tracker/mail/lost_password.txt", context)
        subject = render_to_string("tracker/mail/lost_password_subject.txt", context).strip()
        send_mail(subject, body, None, [user.email])
        sent += 1
    return sent


def _set_password(user, password: str) -> None:
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    if not isinstance(password, str) or not password:
        raise InvalidInput("Send the new password in the password field.")
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages)) from exc
    user.set_password(password)
    user.save(update_fields=["password"])
    # A new password ends the sign-ins made with the old one, as damas' tokens (signed with the password) do.
    tokens.revoke(user.api_tokens.filter(label=SIGN_IN_LABEL))


def change_password(actor: Actor, password: str) -> None:
    """The signed-in user sets a new password (Django's validators); its signIn tokens are revoked."""
    user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: actor.name}, is_active=True).first()
    if user is None:
        raise NotFound(f"user {actor.name} not found", f"@{actor.name}")
    with transaction.atomic():
        _set_password(user, password)


def reset_password(token: str, password: str) -> None:
    """Set a new password with a token from `lost_password`'s mail; NotFound for a bad or used token."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.http import urlsafe_base64_decode

    uid, _, check = token.partition(RESET_SEPARATOR)
    user = None
    try:
        pk = urlsafe_base64_decode(uid).decode()
        user = get_user_model()._default_manager.filter(pk=pk, is_active=True).first()
    except (ValueError, TypeError, OverflowError, UnicodeError):
        user = None
    if user is None or not check or not default_token_generator.check_token(user, check):
        raise NotFound("This password reset link is invalid or was already used.")
    with transaction.atomic():
        _set_password(user, password)
