"""damas-core compatibility beyond CRUD: signIn by e-mail, expiresIn durations, the token cookie, GET graph,
search_mongo's RX_ values, `queryobj` and array equality, script tokens and the password routes."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from syncsite.models import ApiToken
from tracker import services

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Secret-123"


def sign_in(client, username: str, **extra) -> tuple[int, dict]:
    response = client.post("/api/signIn/", {"username": username, "password": PASSWORD, **extra})
    return response.status_code, response.json()


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


# --------------------------------------------------------------------------------------------- signIn


def test_sign_in_with_email_and_compact_answer(client, make_user):
    make_user("alice", "user")
    response = client.post("/api/signIn/", {"username": "ALICE@example.com", "password": PASSWORD})
    assert response.status_code == 200
    # The shell client finds the token with sed on compact JSON.
    text = response.content.decode()
    assert ", " not in text and '": ' not in text
    assert re.sub(r'^.*"token":"([^"]*)".*$', r"\1", text) == response.json()["token"]
    assert response.json()["_id"] == "@alice"
    assert client.post("/api/signIn/", {"username": "alice@example.com", "password": "bad"}).status_code == 401


def test_sign_in_email_shared_by_two_users_is_refused(client, make_user, django_user_model):
    make_user("alice", "user")
    bob = make_user("bob", "user")
    bob.email = "alice@example.com"
    bob.save()
    assert sign_in(client, "alice@example.com")[0] == 401
    assert sign_in(client, "alice")[0] == 200


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("60", 60), ("30m", 1800), ("12h", 43200), ("1d", 86400), ("2w", 1209600), ("1.5h", 5400), ("90 min", 5400)],
)
def test_sign_in_expires_in_formats(client, make_user, value, seconds):
    make_user("alice", "user")
    status, _ = sign_in(client, "alice", expiresIn=value)
    assert status == 200
    token = ApiToken.objects.get()
    assert abs((token.expires - token.created).total_seconds() - seconds) < 2


def test_sign_in_zero_never_expires_and_default_is_a_day(client, make_user, settings):
    make_user("alice", "user")
    assert sign_in(client, "alice", expiresIn="0")[0] == 200
    assert ApiToken.objects.get().expires is None
    ApiToken.objects.all().delete()
    settings.TRACKER_TOKEN_EXPIRY_SECONDS = 3600
    assert sign_in(client, "alice")[0] == 200
    token = ApiToken.objects.get()
    assert abs((token.expires - token.created).total_seconds() - 3600) < 2


@pytest.mark.parametrize("value", ["soon", "-1", "1e400", "12 parsecs", "11y", "1" * 40])
def test_sign_in_bad_expires_in(client, make_user, value):
    make_user("alice", "user")
    status, body = sign_in(client, "alice", expiresIn=value)
    assert status == 400 and "expiresIn" in body["detail"]
    assert not ApiToken.objects.exists()


# --------------------------------------------------------------------------------------------- cookie


def test_token_cookie_authenticates(make_user):
    make_user("alice", "user")
    browser = Client()
    token = sign_in(browser, "alice")[1]["token"]
    browser.cookies["token"] = token
    assert browser.get("/api/verify/").json()["_id"] == "@alice"
    # A same-site write with the cookie works; one posted from another site does not.
    body = json.dumps({"_id": "/c/one.exr", "origin": "paris"})
    same = browser.post("/api/publish/", body, content_type="application/json", HTTP_SEC_FETCH_SITE="same-origin")
    assert same.status_code == 201
    other = browser.post(
        "/api/publish/",
        json.dumps({"_id": "/c/two.exr", "origin": "paris"}),
        content_type="application/json",
        HTTP_ORIGIN="https://evil.example",
    )
    assert other.status_code == 401 and "cross-site" in other.json()["detail"]
    assert services.get_node("/c/two.exr") is None
    browser.cookies["token"] = "not-a-token"
    assert browser.get("/api/verify/").status_code == 401


# --------------------------------------------------------------------------------------------- graph


def test_graph_get_form(damas):
    editor = damas("ed", "editor")
    editor.create([{"_id": "/g/a"}, {"_id": "/g/b"}, {"_id": "e1", "src_id": "/g/a", "tgt_id": "/g/b"}])
    status, nodes = editor.get("graph/0//g/a")
    assert status == 200 and {n["_id"] for n in nodes} == {"/g/a", "/g/b", "e1"}
    status, nodes = editor.get("graph/1//g/a,/g/b")
    assert status == 200 and {n["_id"] for n in nodes} >= {"/g/a", "/g/b"}
    assert editor.get("graph/0/nothing-here")[0] == 404
    assert editor.get("graph/x//g/a")[0] == 400


# --------------------------------------------------------------------------------------------- search_mongo


@pytest.fixture
def searchable(damas):
    editor = damas("ed", "editor")
    status, _ = editor.create(
        [
            {"_id": "/s/Shot01.exr", "tags": ["hero", "fx"], "note": "first line\nsecond line", "n": [1, 2]},
            {"_id": "/s/shot02.exr", "tags": "hero", "note": "one line", "n": 2.0},
            {"_id": "/s/shot03.exr", "tags": ["bg"], "note": "x", "n": "2"},
            {"_id": "/s/shot04.exr", "tags": {"hero": True}, "n": [[2]]},
        ]
    )
    assert status == 201
    return editor


def ids(editor, query) -> list[str]:
    status, body = editor.search_mongo(query, {"_id": 1})
    assert status == 200, body
    return body["ids"]


def test_search_mongo_rx_values(searchable):
    assert ids(searchable, {"_id": "RX_shot0[12]_RX"}) == ["/s/shot02.exr"]
    assert ids(searchable, {"_id": "RX_shot0[12]_RXi"}) == ["/s/Shot01.exr", "/s/shot02.exr"]
    assert ids(searchable, {"_id": "RX_^/s/S"}) == ["/s/Shot01.exr"]
    assert ids(searchable, {"note": "RX_^second_RX"}) == []
    assert ids(searchable, {"note": "RX_^second_RXm"}) == ["/s/Shot01.exr"]
    assert ids(searchable, {"note": "RX_line.second_RX"}) == []
    assert ids(searchable, {"note": "RX_line.second_RXs"}) == ["/s/Shot01.exr"]
    assert ids(searchable, {"note": "RX_one line_RXx"}) == []  # x: spaces are not part of the pattern
    assert ids(searchable, {"note": "RX_one\\ line  # a comment_RXx"}) == ["/s/shot02.exr"]
    assert ids(searchable, {"note": {"$in": ["RX_^one_RX"]}}) == ["/s/shot02.exr"]


@pytest.mark.parametrize("value", ["RX_a_RXg", "RX_(_RX", "RX_(a+)+_RX", "RX_" + "a" * 600 + "_RX"])
def test_search_mongo_bad_rx_is_400(searchable, value):
    status, body = searchable.search_mongo({"_id": value})
    assert status == 400 and "detail" in body


def test_search_mongo_equality_inside_arrays(searchable):
    assert ids(searchable, {"tags": "hero"}) == ["/s/Shot01.exr", "/s/shot02.exr"]
    assert ids(searchable, {"tags": {"$ne": "hero"}, "_id": "RX_^/s/"}) == ["/s/shot03.exr", "/s/shot04.exr"]
    assert ids(searchable, {"n": 2}) == ["/s/Shot01.exr", "/s/shot02.exr"]
    assert ids(searchable, {"n": "2"}) == ["/s/shot03.exr"]
    assert ids(searchable, {"tags": ["bg"]}) == ["/s/shot03.exr"]


def test_search_mongo_queryobj(searchable):
    queryobj = json.dumps({"query": {"tags": "hero"}, "sort": {"_id": -1}, "limit": 1, "skip": 0})
    response = searchable.client.post("/api/search_mongo/", {"queryobj": queryobj}, **searchable._headers())
    assert response.status_code == 200 and response.json() == {"count": 2, "ids": ["/s/shot02.exr"]}
    status, body = searchable.call("POST", "search_mongo/", {"queryobj": queryobj})
    assert status == 200 and body["ids"] == ["/s/shot02.exr"]
    response = searchable.client.post("/api/search_mongo/", {"queryobj": "{not json"}, **searchable._headers())
    assert response.status_code == 400 and "detail" in response.json()


# --------------------------------------------------------------------------------------------- createToken


def test_create_token_list_and_revoke(client, make_user, django_assert_max_num_queries):
    make_user("alice", "user")
    make_user("bob", "user")
    make_user("root", "admin")
    alice = sign_in(client, "alice")[1]["token"]
    bob = sign_in(client, "bob")[1]["token"]
    root = sign_in(client, "root")[1]["token"]

    response = client.post("/api/createToken/", {"expiresIn": "2w", "label": "render farm"}, **bearer(alice))
    assert response.status_code == 201
    made = response.json()
    assert made["label"] == "render farm" and made["username"] == "alice" and made["token"]
    assert abs((made["expires"] - made["created"]) / 1000 - 14 * 86400) < 2
    script = {"HTTP_AUTHORIZATION": f"Bearer {made['token']}"}
    assert client.get("/api/verify/", **script).json()["_id"] == "@alice"

    default = client.post("/api/createToken/", {}, **bearer(alice)).json()
    assert default["label"] == "createToken" and abs((default["expires"] - default["created"]) / 1000 - 365 * 86400) < 2
    forever = client.post("/api/createToken/", {"expiresIn": "0"}, **bearer(alice)).json()
    assert forever["expires"] is None
    assert client.post("/api/createToken/", {"expiresIn": "later"}, **bearer(alice)).status_code == 400
    assert client.post("/api/createToken/", {}).status_code == 401

    for _ in range(5):
        client.post("/api/createToken/", {"label": "more"}, **bearer(alice))
    with django_assert_max_num_queries(5):  # the token check, its last-use stamp, the list: not one per token
        listed = client.get("/api/tokens/", **bearer(alice)).json()
    assert {t["id"] for t in listed} >= {made["id"], default["id"], forever["id"]}
    assert all(t["username"] == "alice" and "token" not in t and "digest" not in t for t in listed)
    # Bob neither sees nor revokes Alice's tokens; an admin sees and revokes them.
    assert all(t["username"] == "bob" for t in client.get("/api/tokens/", **bearer(bob)).json())
    assert client.delete(f"/api/tokens/{made['id']}/", **bearer(bob)).status_code == 404
    assert client.get("/api/verify/", **script).status_code == 200
    everyone = client.get("/api/tokens/?user=alice", **bearer(root)).json()
    assert {t["id"] for t in everyone} >= {made["id"]}
    revoked = client.delete(f"/api/tokens/{made['id']}/", **bearer(root))
    assert revoked.status_code == 200 and revoked.json()["revoked"]
    assert client.get("/api/verify/", **script).status_code == 401
    # The owner revokes its own.
    assert client.delete(f"/api/tokens/{forever['id']}", **bearer(alice)).status_code == 200
    assert client.delete("/api/tokens/abc", **bearer(alice)).status_code == 400


# --------------------------------------------------------------------------------------------- passwords


def test_lost_and_reset_password(client, make_user):
    make_user("alice", "user")
    old = sign_in(client, "alice")[1]["token"]
    response = client.get("/api/lostPassword/alice@example.com")
    assert response.status_code == 200 and response.json() == "email sent"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    body = mail.outbox[0].body
    token = re.search(r"Reset token: (\S+)", body)[1]
    assert f"/api/resetPassword/{token}" in body
    # Unknown addresses get the same answer and no mail.
    assert client.post("/api/lostPassword/", {"email": "nobody@example.com"}).json() == "email sent"
    assert len(mail.outbox) == 1
    assert client.post("/api/lostPassword/", {"email": "not an address"}).status_code == 400

    assert client.post(f"/api/resetPassword/{token}", {"password": "short"}).status_code == 400
    assert client.post(f"/api/resetPassword/{token}", {"password": "a-New-password-77"}).status_code == 200
    # Used once; the old password and the old sign-in are gone.
    assert client.post(f"/api/resetPassword/{token}", {"password": "another-Pass-88"}).status_code == 404
    assert client.post("/api/resetPassword/garbage.token", {"password": "another-Pass-88"}).status_code == 404
    assert sign_in(client, "alice")[0] == 401
    assert client.post("/api/signIn/", {"username": "alice", "password": "a-New-password-77"}).status_code == 200
    assert client.get("/api/verify/", **bearer(old)).status_code == 401


def test_lost_password_mails_a_user_once_per_interval(client, make_user, settings):
    """A guest cannot flood an inbox: a second request within the interval answers the same and sends nothing."""
    from syncsite.models import TaskLease

    make_user("alice", "user")
    for _ in range(5):
        assert client.get("/api/lostPassword/alice@example.com").json() == "email sent"
    assert len(mail.outbox) == 1
    TaskLease.objects.update(expires=timezone.now() - timedelta(seconds=1))  # the interval has passed
    client.get("/api/lostPassword/alice@example.com")
    assert len(mail.outbox) == 2
    settings.TRACKER_PASSWORD_RESET_INTERVAL_SECONDS = 0
    TaskLease.objects.update(expires=timezone.now() - timedelta(seconds=1))
    client.get("/api/lostPassword/alice@example.com")
    client.get("/api/lostPassword/alice@example.com")
    assert len(mail.outbox) == 4


def test_change_password(client, make_user):
    make_user("alice", "user")
    token = sign_in(client, "alice")[1]["token"]
    script = client.post("/api/createToken/", {"expiresIn": "1d"}, **bearer(token)).json()["token"]
    assert client.post("/api/changePassword/", {"password": "x"}, **bearer(token)).status_code == 400
    assert client.post("/api/changePassword/", {"password": "a-New-password-77"}).status_code == 401
    response = client.post("/api/changePassword/", {"password": "a-New-password-77"}, **bearer(token))
    assert response.status_code == 200
    assert client.post("/api/signIn/", {"username": "alice", "password": "a-New-password-77"}).status_code == 200
    # signIn tokens end with the old password; a script token stays until revoked.
    assert client.get("/api/verify/", **bearer(token)).status_code == 401
    assert client.get("/api/verify/", **bearer(script)).status_code == 200


def test_expired_reset_token(client, make_user, settings):
    make_user("alice", "user")
    client.get("/api/lostPassword/alice@example.com")
    token = re.search(r"Reset token: (\S+)", mail.outbox[0].body)[1]
    settings.PASSWORD_RESET_TIMEOUT = -1
    assert client.post(f"/api/resetPassword/{token}", {"password": "a-New-password-77"}).status_code == 404
