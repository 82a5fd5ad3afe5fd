"""Users and tokens: the `@username` nodes, user classes, signIn tokens."""

from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db import transaction

from syncsite import tokens
from tracker import conf
from tracker.models import Node, TrackerProfile, UserClass
from tracker.services.actors import Actor, user_class_of
from tracker.services.columns import _make_node, _set_columns, now_ms
from tracker.services.errors import InvalidInput


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


def sign_in(username: str, password: str, expires_in: int | None = None, request=None) -> dict | None:
    """Check the credentials and issue an API token labelled signIn; None on bad credentials. 0 = never expires.

    Pass the request: sign-in failures are counted per (user, address) and a locked-out pair is refused.
    """
    user = authenticate(request, username=username, password=password)
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
