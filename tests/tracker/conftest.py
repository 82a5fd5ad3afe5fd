"""Fixtures of the tracker tests: volumes (sites) and users of each class."""

from __future__ import annotations

import pytest

from tracker import services


@pytest.fixture
def three_sites(db) -> list[str]:
    """Volumes paris, tokyo and lima (sites are volume names)."""
    for name in ("paris", "tokyo", "lima"):
        services.create_volume(name, url=f"ssh://sync@{name}.example/project/")
    return ["lima", "paris", "tokyo"]


@pytest.fixture
def make_user(django_user_model):
    """A Django user of a tracker class, with a known password."""

    def make(username: str, user_class: str = "user", password: str = "pw-Secret-123"):  # noqa: S107
        if user_class == "admin":
            user = django_user_model.objects.create_superuser(username, f"{username}@example.com", password)
        else:
            user = django_user_model.objects.create_user(username, f"{username}@example.com", password)
            services.set_user_class(user, user_class)
        return user

    return make
