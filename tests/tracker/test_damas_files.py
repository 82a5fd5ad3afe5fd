"""`/api/file/<path>` and `/api/upload` on a real volume folder: permissions, Range, streaming, atomic writes,
and paths that try to leave the volume (`..`, symbolic links)."""

from __future__ import annotations

import os
import subprocess

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from tracker import services
from tracker.models import Node

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Secret-123"


@pytest.fixture
def volume(tmp_path, settings):
    """The volume `studio` (a local folder) served by this host, and a folder outside it."""
    root = tmp_path / "studio"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("not yours")
    services.create_volume("studio", url=str(root))
    services.create_volume("paris", url="ssh://sync@paris.example/project/")
    settings.TRACKER_FILE_VOLUME = "studio"
    return root


def token_of(client, make_user, name: str, user_class: str) -> dict:
    make_user(name, user_class)
    token = client.post("/api/signIn/", {"username": name, "password": PASSWORD}).json()["token"]
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def upload(client, auth, path: str, content: bytes, comment: str = "", method: str = "post"):
    data = {"path": path, "comment": comment, "file": SimpleUploadedFile("x.bin", content)}
    if method == "put":
        from django.test.client import encode_multipart

        body = encode_multipart("BoUnDaRy", data)
        return client.put("/api/upload", body, content_type="multipart/form-data; boundary=BoUnDaRy", **auth)
    return client.post("/api/upload", data, **auth)


def test_upload_creates_then_versions_and_publishes(client, make_user, volume):
    auth = token_of(client, make_user, "ann", "user")
    response = upload(client, auth, "/shots/s01/a.exr", b"first", "v1")
    assert response.status_code == 201, response.content
    node = response.json()
    assert node["_id"] == "/shots/s01/a.exr" and node["origin"] == "studio" and node["file_size"] == 5
    assert node["author"] == "ann" and node["comment"] == "v1" and node["file_mtime"] > 0
    assert (volume / "shots/s01/a.exr").read_bytes() == b"first"
    assert not [p for p in (volume / "shots/s01").iterdir() if p.name.startswith(".syncsite-upload-")]
    # Published: a child node, and the other site has a pending copy to fetch.
    assert Node.objects.filter(parent="/shots/s01/a.exr").count() == 1
    assert services.pending_count("paris") == 1

    response = upload(client, auth, "/shots/s01/a.exr", b"second!", "v2", method="put")
    assert response.status_code == 201, response.content
    node = response.json()
    assert node["version"] == 2 and node["file_size"] == 7 and node["comment"] == "v2"
    assert (volume / "shots/s01/a.exr").read_bytes() == b"second!"
    assert Node.objects.filter(parent="/shots/s01/a.exr").count() == 2


def test_download_with_range_and_permissions(client, make_user, volume, settings):
    auth = token_of(client, make_user, "ann", "user")
    content = bytes(range(256)) * 1000
    assert upload(client, auth, "/d/blob.bin", content).status_code == 201
    response = client.get("/api/file/d/blob.bin", **auth)
    assert response.status_code == 200 and response.streaming
    assert b"".join(response.streaming_content) == content and response["Accept-Ranges"] == "bytes"
    response = client.get("/api/file//d/blob.bin", HTTP_RANGE="bytes=10-19", **auth)
    assert response.status_code == 206 and b"".join(response.streaming_content) == content[10:20]
    assert response["Content-Range"] == f"bytes 10-19/{len(content)}"
    response = client.get("/api/file/d/blob.bin", HTTP_RANGE="bytes=-5", **auth)
    assert b"".join(response.streaming_content) == content[-5:]
    response = client.get("/api/file/d/blob.bin", HTTP_RANGE=f"bytes={len(content)}-", **auth)
    assert response.status_code == 416 and response["Content-Range"] == f"bytes */{len(content)}"
    assert client.get("/api/file/d/blob.bin").status_code == 401
    assert client.get("/api/file/d/missing.bin", **auth).status_code == 404
    # authorMode: another user's file is not there for a plain user.
    settings.TRACKER_AUTHOR_MODE = True
    other = token_of(client, make_user, "bob", "user")
    assert client.get("/api/file/d/blob.bin", **other).status_code == 404


def test_no_served_volume_is_404_with_a_message(client, make_user, settings):
    auth = token_of(client, make_user, "ann", "user")
    settings.TRACKER_FILE_VOLUME = ""
    response = client.get("/api/file/a/b.exr", **auth)
    assert response.status_code == 404 and "TRACKER_FILE_VOLUME" in response.json()["detail"]
    response = client.post("/api/upload", {"path": "/a/b", "file": SimpleUploadedFile("b", b"x")}, **auth)
    assert response.status_code == 404 and "TRACKER_FILE_VOLUME" in response.json()["detail"]


def test_paths_never_leave_the_volume(client, make_user, volume, tmp_path):
    auth = token_of(client, make_user, "boss", "admin")
    # A tracked node whose file is a symbolic link out of the volume is not served.
    (volume / "link").mkdir()
    os.symlink(tmp_path / "outside" / "secret.txt", volume / "link" / "secret.txt")
    os.symlink(tmp_path / "outside", volume / "escape")
    client.post("/api/create/", '{"_id": "/link/secret.txt"}', content_type="application/json", **auth)
    client.post("/api/create/", '{"_id": "/escape/secret.txt"}', content_type="application/json", **auth)
    assert client.get("/api/file/link/secret.txt", **auth).status_code == 404
    assert client.get("/api/file/escape/secret.txt", **auth).status_code == 404
    assert client.get("/api/file/../outside/secret.txt", **auth).status_code == 400
    assert client.get("/api/file/a/%2e%2e/%2e%2e/outside/secret.txt", **auth).status_code == 400
    # Uploads through a link, over a link, or with `..` write nothing anywhere.
    for path in ("/escape/new.txt", "/link/secret.txt", "/../outside/x.txt", "/a/../../x.txt", "/folder/"):
        response = upload(client, auth, path, b"overwrite")
        assert 400 <= response.status_code < 500 and "detail" in response.json(), (path, response.content)
    assert (tmp_path / "outside" / "secret.txt").read_text() == "not yours"
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["secret.txt"]
    assert not Node.objects.filter(node_id__in=["/escape/new.txt", "/x.txt"]).exists()


def test_upload_refusals_write_nothing(client, make_user, volume, settings):
    guest = token_of(client, make_user, "gus", "guest")
    assert upload(client, guest, "/g/a.exr", b"data").status_code == 403
    user = token_of(client, make_user, "ann", "user")
    settings.TRACKER_MAX_UPLOAD_BYTES = 10
    response = upload(client, user, "/g/big.exr", b"x" * 11)
    assert response.status_code == 413 and "TRACKER_MAX_UPLOAD_BYTES" in response.json()["detail"]
    settings.TRACKER_MAX_UPLOAD_BYTES = 1024
    assert client.post("/api/upload", {"path": "/g/a.exr"}, **user).status_code == 400
    assert client.post("/api/upload", {"file": SimpleUploadedFile("a", b"x")}, **user).status_code == 400
    # A tracked file locked by someone else, or a volume node, is not overwritten.
    boss = token_of(client, make_user, "boss", "admin")
    assert upload(client, boss, "/g/locked.exr", b"mine").status_code == 201
    client.put("/api/lock/", '"/g/locked.exr"', content_type="application/json", **boss)
    assert upload(client, user, "/g/locked.exr", b"yours").status_code == 409
    assert (volume / "g/locked.exr").read_bytes() == b"mine"
    assert not (volume / "g" / "a.exr").exists() and not (volume / "g" / "big.exr").exists()
    assert not Node.objects.filter(node_id__in=["/g/a.exr", "/g/big.exr"]).exists()
    assert sorted(p.name for p in (volume / "g").iterdir()) == ["locked.exr"]


@pytest.mark.django_db(transaction=True)
def test_curl_upload_and_range_download_over_http(live_server, make_user, volume):
    """What damas' web page and shell users do, with curl against a live server."""
    make_user("ann", "user")
    url = live_server.url
    signin = requests.post(f"{url}/api/signIn/", data={"username": "ann@example.com", "password": PASSWORD}, timeout=30)
    token = signin.json()["token"]
    source = volume.parent / "local.bin"
    source.write_bytes(os.urandom(300_000))
    done = subprocess.run(
        [
            "curl",
            "-ks",
            "-w",
            "\n%{http_code}",
            "-H",
            f"Authorization: Bearer {token}",
            "-F",
            "path=/up/local.bin",
            "-F",
            f"file=@{source}",
            f"{url}/api/upload",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.rsplit("\n", 1)[1] == "201", done.stdout
    got = subprocess.run(
        ["curl", "-ks", "--cookie", f"token={token}", "-r", "1000-1999", f"{url}/api/file/up/local.bin"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert got.stdout == source.read_bytes()[1000:2000]
    whole = requests.get(f"{url}/api/file/up/local.bin", cookies={"token": token}, stream=True, timeout=30)
    assert whole.status_code == 200 and whole.raw.read() == source.read_bytes()
