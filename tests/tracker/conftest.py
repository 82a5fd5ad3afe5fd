"""Fixtures of the tracker tests: volumes (sites) and users of each class."""

from __future__ import annotations

import json

import pytest

from tracker import services


@pytest.fixture
def three_sites(db) -> list[str]:
    """Volumes paris, tokyo and lima (sites are volume names)."""
    for name in ("paris", "tokyo", "lima"):
        services.create_volume(name, url=f"ssh://sync@{name}.example/project/")
    return ["lima", "paris", "tokyo"]


def volume_form(**changes) -> dict:
    """A valid POST of the admin's volume form (site oslo over ssh), with `changes` over it."""
    base = {
        "name": "oslo",
        "url": "ssh://sync@oslo.example:22/project/",
        "enableEmission": "on",
        "enableReception": "on",
        "syncAmountEmission": "10",
        "syncAmountReception": "25",
        "rsync_args": "--bwlimit=1000 -z",
        "rsync_env": "RSYNC_PROXY=proxy:3128",
        "notifiedEmails": "a@example.com, b@example.com",
    }
    return {**base, **changes}


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


class DamasClient:
    """Calls /api/* like damas-core's http_connection does: JSON bodies, (status, parsed body) back."""

    def __init__(self, client, token: str | None = None):
        self.client = client
        self.token = token

    def _headers(self) -> dict:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def call(self, method: str, route: str, body=None, raw: str | None = None):
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        response = self.client.generic(
            method.upper(), f"/api/{route}", data or "", content_type="application/json", **self._headers()
        )
        try:
            parsed = response.json()
        except ValueError:
            parsed = response.content.decode()
        return response.status_code, parsed

    def get(self, route: str):
        response = self.client.get(f"/api/{route}", **self._headers())
        return response.status_code, response.json()

    def create(self, keys):
        return self.call("POST", "create/", keys)

    def read(self, ids):
        return self.call("POST", "read/", ids)

    def update(self, keys):
        return self.call("PUT", "update/", keys)

    def upsert(self, keys):
        return self.call("POST", "upsert/", keys)

    def delete(self, ids):
        return self.call("DELETE", "delete/", ids)

    def search(self, query: str):
        return self.get(f"search/{query}")

    def search_one(self, query: str):
        return self.get(f"search_one/{query}")

    def search_mongo(self, query, sort=None, limit=0, skip=0):
        return self.call("POST", "search_mongo/", {"query": query, "sort": sort, "limit": limit, "skip": skip})

    def graph(self, ids, depth: int = 0):
        return self.call("POST", f"graph/{depth}/", ids)

    def lock(self, ids):
        return self.call("PUT", "lock/", ids)

    def unlock(self, ids):
        return self.call("PUT", "unlock/", ids)

    def publish(self, keys):
        return self.call("POST", "publish/", keys)

    def comment(self, keys):
        return self.call("POST", "comment/", keys)

    def version(self, node_id: str, keys):
        return self.call("POST", f"version/{node_id}", keys)


@pytest.fixture
def damas(client, make_user):
    """`damas("name", "editor")` → a DamasClient signed in (through /api/signIn/) as a new user of that class."""

    def make(username: str = "ed", user_class: str = "editor") -> DamasClient:
        make_user(username, user_class)
        response = client.post("/api/signIn/", {"username": username, "password": "pw-Secret-123"})
        assert response.status_code == 200, response.content
        from django.test import Client

        return DamasClient(Client(), response.json()["token"])

    return make


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real password checks, with a cheap hasher so signing in dozens of users stays fast."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
