"""A real agent round after each attempted escalation: the damas routes refuse hostile volume values from a
`user` (and from an admin, as values), and values stored behind the API's back are refused by the agent at
run time: nothing executed, nothing written outside the volume."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
from django.test import Client

from tests.conftest import require_binary
from tests.tracker_agent.conftest import publish_file
from tracker import services
from tracker.agent.rsync import CONFIG_ERROR
from tracker.agent.runner import SiteAgent
from tracker.models import Node

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _rsync_installed():
    require_binary("rsync")


@pytest.fixture
def signed_in(django_user_model, settings):
    """`signed_in("mallory", "user")` → call(method, route, body) over the real /api/ routes with a signIn token."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

    def make(username: str, user_class: str):
        if user_class == "admin":
            django_user_model.objects.create_superuser(username, f"{username}@example.com", "pw-Secret-123")
        else:
            user = django_user_model.objects.create_user(username, f"{username}@example.com", "pw-Secret-123")
            services.set_user_class(user, user_class)
        client = Client()
        token = client.post("/api/signIn/", {"username": username, "password": "pw-Secret-123"}).json()["token"]

        def call(method: str, route: str, body) -> tuple[int, dict]:
            response = client.generic(
                method, f"/api/{route}", json.dumps(body), "application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
            )
            return response.status_code, response.json()

        return call

    return make


def _tree(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    """Every file under root (but the skipped folders) with its size and mtime."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if Path(folder, d) not in skip]
        for name in files:
            stat = os.lstat(os.path.join(folder, name))
            seen[os.path.join(folder, name)] = (stat.st_size, stat.st_mtime_ns)
    return seen


def test_hostile_volume_values_are_refused_by_routes_and_by_the_agent(make_site, signed_in, tmp_path):
    marker = tmp_path / "PWNED"
    outside = tmp_path / "outside"
    outside.mkdir()
    payload = shlex.join(["sh", "-c", f"touch {marker}"])
    a = make_site("A", enableReception=False)
    b = make_site("B")
    volume_b = Node.objects.get(node_id="B")
    clean_b = dict(volume_b.data)

    # 1. Through the damas routes: a user, an editor, and an admin sending the same values.
    user = signed_in("mallory", "user")
    editor = signed_in("eddie", "editor")
    admin = signed_in("boss", "admin")
    hostile = [
        {"rsync_args": f"-e {shlex.quote(payload)}"},
        {"rsync_args": f"--rsync-path={shlex.quote(payload)}"},
        {"rsync_args": f"--log-file={outside}/log --temp-dir={outside}"},
        {"rsync_env": f"RSYNC_RSH={shlex.quote(payload)} LD_PRELOAD={outside}/evil.so"},
        {"url": f"ssh://-oProxyCommand=touch{marker}/p"},
    ]
    for keys in hostile:
        assert user("POST", "version/B", keys)[0] == 403, keys
        assert user("PUT", "update/", {"_id": "B", **keys})[0] == 403, keys
        assert editor("PUT", "update/", {"_id": "B", **keys})[0] == 403, keys
        assert editor("POST", "upsert/", {"_id": "B", **keys})[0] == 403, keys
        assert editor("POST", "version/B", keys)[0] == 403, keys
        status, body = admin("POST", "version/B", keys)
        assert status == 400 and next(iter(keys)) in body["detail"], (keys, body)
        assert admin("PUT", "update/", {"_id": "B", **keys})[0] == 400, keys
    volume = {"_id": "evil", "name": "evil", "url": str(outside), "enableReception": True}
    assert user("POST", "create/", volume)[0] == 403
    assert editor("POST", "create/", volume)[0] == 403
    assert user("POST", "create/", {**volume, "rsync_args": f"-e {shlex.quote(payload)}"})[0] == 403
    assert "evil" not in services.sites()
    assert Node.objects.get(node_id="B").data == clean_b

    # 2. An admin stores hostile values in the database directly; the agent refuses to run each of them.
    rounds = [
        {"url": "ssh://nobody@127.0.0.1:9/dst", "rsync_args": f"-e {shlex.quote(payload)}"},
        {"url": "ssh://nobody@127.0.0.1:9/dst", "rsync_args": f"-ze {shlex.quote(payload)}"},
        {"url": "ssh://nobody@127.0.0.1:9/dst", "rsync_args": f"--rsh={shlex.quote(payload)}"},
        {"rsync_args": f"--rsync-path={shlex.quote(payload)}"},
        {"rsync_args": f"--log-file={outside}/log"},
        {"rsync_args": f"--temp-dir={outside} --backup --backup-dir={outside}"},
        {"rsync_args": f"--files-from=/etc/hostname --link-dest={outside}"},
        {"rsync_env": f"RSYNC_RSH={shlex.quote(payload)}"},
        {"url": "ssh://nobody@127.0.0.1:9/dst", "rsync_env": f"RSYNC_RSH={shlex.quote(payload)}"},
        {"rsync_env": f"LD_PRELOAD={outside}/evil.so"},
        {"rsync_env": f"PATH={outside}"},
        {"url": f"ssh://-oProxyCommand=touch{marker}/p"},
    ]
    before = _tree(tmp_path, skip=(b.root,))
    for number, values in enumerate(rounds):
        path = f"/attack/{number}.bin"
        publish_file(a, path, os.urandom(500))
        Node.objects.filter(node_id="B").update(data={**clean_b, **values})
        report = SiteAgent("B").run_once()
        assert report.reception.synced == 0, values
        assert not marker.exists(), values
        stored = services.get_node(path)
        if "url" in values and "rsync_args" not in values and "rsync_env" not in values:
            assert services.get_volume("B")["exit_reception"] == CONFIG_ERROR, values
        else:
            assert stored["syncError_B"] == CONFIG_ERROR, values
            assert "not allowed" in stored["syncErrorMessage_B"], values
        assert not (b.root / path.lstrip("/")).exists()
    assert not marker.exists()
    after = _tree(tmp_path, skip=(b.root,))
    new_files = set(after) - set(before)
    assert all(name.startswith(str(a.root)) for name in new_files), new_files  # only the published files
    assert sorted(os.listdir(outside)) == []

    # 3. A control: with clean values the same agent copies, so the rounds above were real agent runs.
    Node.objects.filter(node_id="B").update(data=clean_b)
    assert admin("PUT", "update/", {"_id": "B", "rsync_args": "-z --bwlimit=100m"})[0] == 200
    publish_file(a, "/attack/control.bin", b"fine")
    # The control file and the one of the bad-url round (that round never claimed it) are copied now.
    assert SiteAgent("B").run_once().reception.synced == 2
    assert (b.root / "attack/control.bin").read_bytes() == b"fine"
    assert not marker.exists()
