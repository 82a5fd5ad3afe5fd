"""Fleet actions and live state against three fresh daemons that know nobody at first.

Each step is checked in the daemons' own config and in Syncsite's mirrored state, polling with a deadline.
"""

from __future__ import annotations

import concurrent.futures
import threading

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from rest_framework.test import APIClient

from syncsite.errors import DomainError
from syncthing_bridge import fleet, live, services
from syncthing_bridge.localdaemon import LocalDaemon
from syncthing_bridge.localdaemon import wait_for as wait_for_daemon
from syncthing_bridge.models import FolderConflict, PendingDevice, SyncthingDevice, SyncthingFolder
from tests.conftest import free_port, require_binary

pytestmark = pytest.mark.integration

FOLDER = "team"
STEP = 45  # seconds any one step may take on a loaded machine


@pytest.fixture(scope="module")
def trio(tmp_path_factory):
    binary = require_binary("syncthing", "/usr/bin/syncthing")
    root = tmp_path_factory.mktemp("fleet")
    daemons = [
        LocalDaemon(
            root / name,
            name,
            f"fleet-key-{name}-0123456789",
            binary=binary,
            gui_port=free_port(),  # from this xdist worker's own block
            listen_port=free_port(),
        )
        for name in "xyz"
    ]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda d: d.start(), daemons))
    try:
        yield daemons, root
    finally:
        for daemon in daemons:
            daemon.stop()


def wait_for(predicate, timeout: float, what: str = "condition"):
    """Poll with a deadline; SQLite's in-memory test database may be locked by a listener thread for a moment,
    and a file Syncthing replaces is missing for a moment (its old copy is moved aside before the new one lands)."""

    def attempt():
        try:
            with live.database_turn():
                return predicate()
        except (OperationalError, FileNotFoundError):
            return None

    return wait_for_daemon(attempt, timeout, what=what)


def turn(func, *args, **kwargs):
    """Run a database-touching call in the main thread while the listener threads wait (SQLite test database)."""
    with live.database_turn():
        return func(*args, **kwargs)


def test_conflict_names():
    assert live.conflict_original("a/b.sync-conflict-20240101-120000-ABCDEFG.txt") == "a/b.txt"
    assert live.conflict_original("notes.sync-conflict-20240101-120000-ABC1234") == "notes"
    assert live.conflict_original("a/b.txt") is None


def _config_folder(daemon: LocalDaemon) -> dict | None:
    with daemon.client() as st:
        return next((f for f in st.config.folders.list() if f["id"] == FOLDER), None)


def _connected(daemon: LocalDaemon, other: LocalDaemon) -> bool:
    with daemon.client() as st:
        return bool(st.system.connections()["connections"].get(other.device_id, {}).get("connected"))


def _scan(daemon: LocalDaemon) -> None:
    with daemon.client() as st:
        st.db.scan(FOLDER)


@pytest.mark.django_db(transaction=True)
def test_fleet_from_nothing_to_conflict(trio, admin_user, client):
    from tracker import services as tracker

    (x, y, z), root = trio
    sites = {"x": "siteX", "y": "siteY", "z": "siteZ"}
    for site in sites.values():
        tracker.create_volume(site, url=f"file:///{site}/")
    inst = {
        d.name: services.create_instance(f"fleet-{d.name}", d.url, d.api_key, site=sites[d.name]) for d in (x, y, z)
    }
    for instance in inst.values():
        services.map_folder(instance, FOLDER, "/team")
    services.refresh_all()
    stop = threading.Event()
    listener = threading.Thread(
        target=services.listen, args=(list(inst.values()),), kwargs={"stop": stop, "poll_timeout": 1}
    )
    listener.start()
    api = APIClient()
    api.force_authenticate(admin_user)
    try:
        # 1. pair x and y through the API; twice: the second changes nothing
        answer = turn(
            api.post, "/api/v1/syncthing/fleet/pair/", {"first": "fleet-x", "second": "fleet-y"}, format="json"
        )
        assert answer.status_code == 200, answer.content
        assert [r["status"] for r in answer.json()["reports"]] == ["changed", "changed"]
        again = turn(
            api.post, "/api/v1/syncthing/fleet/pair/", {"first": "fleet-x", "second": "fleet-y"}, format="json"
        )
        assert [r["status"] for r in again.json()["reports"]] == ["unchanged", "unchanged"]
        with x.client() as st:
            entry = st.config.devices.get(y.device_id)
        assert entry["name"] == "fleet-y" and entry["addresses"] == [y.listen_address]
        wait_for(lambda: _connected(x, y), STEP, what="x connected to y")
        wait_for(
            lambda: SyncthingDevice.objects.filter(instance=inst["x"], device_id=y.device_id, connected=True).exists(),
            STEP,
            what="Syncsite sees x-y connected",
        )

        # 2. z knows x, x does not know z: x lists z as pending; staff accept it on the page
        with z.client() as st:
            fleet.ensure_device(st, x.device_id, "fleet-x", [x.listen_address])
        wait_for(
            lambda: PendingDevice.objects.filter(instance=inst["x"], device_id=z.device_id).exists(),
            STEP,
            what="pending z on x in Syncsite",
        )
        client.force_login(admin_user)
        page = turn(client.get, "/syncthing/state/").content.decode()
        assert f'data-pending-device="{z.device_id}"' in page
        accepted = turn(client.post, f"/syncthing/instances/{inst['x'].pk}/accept-device/", {"device": z.device_id})
        assert accepted.status_code == 302
        with x.client() as st:
            assert st.config.devices.get(z.device_id)["deviceID"] == z.device_id
        wait_for(lambda: not PendingDevice.objects.filter(instance=inst["x"]).exists(), STEP, what="pending z gone")
        # y and z from the command line
        turn(call_command, "syncthing", "pair", "fleet-y", "fleet-z")
        wait_for(lambda: _connected(y, z) and _connected(x, z), STEP, what="all three connected")

        # 3. share a folder across the three in one action (created everywhere, sendreceive, simple versioning)
        paths = {d.name: root / d.name / "team" for d in (x, y, z)}
        share = {
            "folder": FOLDER,
            "paths": {f"fleet-{n}": str(p) for n, p in paths.items()},
            "type": "sendreceive",
            "versioning": {"type": "simple", "params": {"keep": "3"}},
        }
        answer = turn(api.post, "/api/v1/syncthing/fleet/share/", share, format="json")
        assert answer.status_code == 200, answer.content
        assert {r["status"] for r in answer.json()["reports"]} == {"changed"}
        assert {
            r["status"]
            for r in turn(api.post, "/api/v1/syncthing/fleet/share/", share, format="json").json()["reports"]
        } == {"unchanged"}
        for daemon in (x, y, z):
            folder = _config_folder(daemon)
            assert folder["path"] == str(paths[daemon.name]) and folder["versioning"]["type"] == "simple"
            assert {d["deviceID"] for d in folder["devices"]} == {x.device_id, y.device_id, z.device_id}
        wait_for(
            lambda: SyncthingFolder.objects.filter(folder_id=FOLDER, instance__in=inst.values()).count() == 3,
            STEP,
            what="Syncsite lists the folder on the three",
        )

        # 4. files: written at x, present at y and z; Syncsite records the change and full completion
        (paths["x"] / "plan.txt").write_text("v1")
        _scan(x)
        for daemon in (y, z):
            wait_for(lambda d=daemon: (paths[d.name] / "plan.txt").exists(), STEP, what=f"plan.txt at {daemon.name}")
        wait_for(
            lambda: SyncthingFolder.objects.filter(
                instance=inst["y"], folder_id=FOLDER, last_change_path="plan.txt"
            ).exists(),
            STEP,
            what="Syncsite's last change at y",
        )
        wait_for(lambda: tracker.get_node("/team/plan.txt"), STEP, what="plan.txt published to the tracker")

        # 5. ignores: skip.tmp stops syncing; the daemons hold the pattern; idempotent
        reports = turn(services.set_ignores, FOLDER, ["skip.tmp"], list(inst.values()))
        assert {r.status for r in reports} == {"changed"}
        assert {r.status for r in turn(services.set_ignores, FOLDER, ["skip.tmp"], list(inst.values()))} == {
            "unchanged"
        }
        for daemon in (x, y, z):
            with daemon.client() as st:
                assert st.db.ignores(FOLDER)["ignore"] == ["skip.tmp"]
        (paths["x"] / "skip.tmp").write_text("local only")
        (paths["x"] / "after.txt").write_text("synced")
        _scan(x)
        for daemon in (y, z):
            wait_for(lambda d=daemon: (paths[d.name] / "after.txt").exists(), STEP, what=f"after.txt at {daemon.name}")
            assert not (paths[daemon.name] / "skip.tmp").exists()

        # 6. pause device y everywhere (the command line), change plan.txt on both sides, resume: a conflict
        turn(call_command, "syncthing", "pause-device", y.device_id, "--instance", "fleet-x", "--instance", "fleet-z")
        with x.client() as st:
            assert st.config.devices.get(y.device_id)["paused"] is True
        wait_for(
            lambda: SyncthingDevice.objects.filter(instance=inst["x"], device_id=y.device_id, paused=True).exists(),
            STEP,
            what="Syncsite sees y paused at x",
        )
        wait_for(lambda: not _connected(x, y) and not _connected(z, y), STEP, what="y cut off")
        (paths["x"] / "plan.txt").write_text("x's version")
        (paths["y"] / "plan.txt").write_text("y's longer version")
        _scan(x)
        _scan(y)
        for daemon in (x, y):
            with daemon.client() as st:
                wait_for(
                    lambda st=st: (
                        st.db.status(FOLDER)["state"] == "idle" and st.db.file(FOLDER, "plan.txt")["local"]["size"] != 2
                    ),
                    STEP,
                    what=f"{daemon.name} scanned its change",
                )
        resumed = turn(services.set_device_paused, y.device_id, False, [inst["x"], inst["z"]])
        assert [r.status for r in resumed] == ["changed", "changed"]
        assert [r.status for r in turn(services.set_device_paused, y.device_id, False, [inst["x"], inst["z"]])] == [
            "unchanged",
            "unchanged",
        ]
        wait_for(lambda: _connected(x, y), STEP, what="y back")
        wait_for(
            lambda: SyncthingDevice.objects.filter(
                instance=inst["x"], device_id=y.device_id, paused=False, connected=True
            ).exists(),
            STEP,
            what="Syncsite sees y resumed and connected at x",
        )

        def conflict_on_disk():
            return [p for d in (x, y) for p in paths[d.name].glob("plan.sync-conflict-*.txt")]

        wait_for(conflict_on_disk, STEP, what="a conflict copy")
        conflict = wait_for(
            lambda: FolderConflict.objects.filter(folder__folder_id=FOLDER, original="plan.txt").first(),
            STEP,
            what="Syncsite lists the conflict",
        )
        site = conflict.folder.instance.site
        wait_for(
            lambda: (tracker.get_node("/team/plan.txt") or {}).get(f"syncConflict_{site}"),
            STEP,
            what="the tracker knows the conflict",
        )
        page = turn(client.get, "/syncthing/").content.decode()
        assert f'data-conflict="{conflict.path}"' in page

        # 7. unshare needs confirmation, then removes the folder from z only
        refused = turn(
            api.post, "/api/v1/syncthing/fleet/unshare/", {"folder": FOLDER, "instances": ["fleet-z"]}, format="json"
        )
        assert refused.status_code == 400 and "confirm" in refused.json()["detail"]
        with pytest.raises(CommandError):
            turn(call_command, "syncthing", "unshare", FOLDER, "fleet-z")
        turn(call_command, "syncthing", "unshare", FOLDER, "fleet-z", "--yes")
        assert _config_folder(z) is None
        assert z.device_id not in {d["deviceID"] for d in _config_folder(x)["devices"]}
        wait_for(
            lambda: not SyncthingFolder.objects.filter(instance=inst["z"], folder_id=FOLDER).exists(),
            STEP,
            what="Syncsite drops the folder at z",
        )
    finally:
        stop.set()
        listener.join(30)


@pytest.mark.django_db
def test_fleet_input_errors(admin_user, django_user_model, trio):
    (x, _, _), _ = trio
    instance = services.create_instance("fleet-lone", x.url, x.api_key)
    api = APIClient()
    api.force_authenticate(admin_user)
    bad = api.post("/api/v1/syncthing/fleet/share/", {"folder": "f", "paths": {"nobody": "/tmp/f"}}, format="json")
    assert bad.status_code == 400
    bad = api.post(
        "/api/v1/syncthing/fleet/accept-device/", {"instance": "fleet-lone", "device": "NOT-A-DEVICE"}, format="json"
    )
    assert bad.status_code == 400 and "device ID invalid" in bad.json()["detail"]
    # a domain error answered by the kernel's handler: the same status and {"detail": ...} as before
    unconfirmed = api.post(
        "/api/v1/syncthing/fleet/unshare/", {"folder": "f", "instances": ["fleet-lone"]}, format="json"
    )
    assert unconfirmed.status_code == 400
    assert unconfirmed.json() == {"detail": "removing a folder needs confirmation (confirm=true, --yes)"}
    assert issubclass(services.FleetInputError, DomainError) and services.FleetInputError.status == 400
    # what the caller sent is echoed redacted: a credential in it never comes back
    secret = "https://ops:hunter22@nas.example/x?token=s3cret"
    leaked = api.post(
        "/api/v1/syncthing/fleet/accept-folder/",
        {"instance": "fleet-lone", "folder": secret, "device": x.device_id, "path": "/tmp/f"},
        format="json",
    )
    assert leaked.status_code == 400, leaked.content
    assert leaked.json() == {
        "detail": f"{x.device_id[:7]} offers no folder 'https://nas.example/x?token=********' to fleet-lone"
    }
    for field in ({"instances": ["a\x00b"]}, {"instances": [7]}):
        nul = api.post("/api/v1/syncthing/fleet/pause-folder/", {"folder": "f", **field}, format="json")
        assert nul.status_code == 400, nul.content
    nul = api.post("/api/v1/syncthing/fleet/share/", {"folder": "f", "paths": {"a\x00": "/tmp/f"}}, format="json")
    assert nul.status_code == 400
    wrong_type = api.post(
        "/api/v1/syncthing/fleet/share/", {"folder": "f", "paths": {"fleet-lone": "/tmp/f"}, "type": "x"}, format="json"
    )
    assert wrong_type.status_code == 400
    reader = django_user_model.objects.create_user("reader", password="pw")
    api.force_authenticate(reader)
    denied = api.post("/api/v1/syncthing/fleet/pause-folder/", {"folder": "f"}, format="json")
    assert denied.status_code == 403
    with pytest.raises(CommandError, match="no such Syncthing instance"):
        call_command("syncthing", "pair", "fleet-lone", "nobody")
    down = services.create_instance("fleet-down", "http://127.0.0.1:9", "k", timeout=2)
    api.force_authenticate(admin_user)
    failed = api.post(
        "/api/v1/syncthing/fleet/pause-folder/",
        {"folder": "f", "instances": ["fleet-down", "fleet-lone"]},
        format="json",
    )
    assert failed.status_code == 502
    assert [r["status"] for r in failed.json()["reports"]] == ["failed", "unchanged"]
    assert instance.pk and down.pk


@pytest.mark.django_db
def test_revert_on_receive_only_and_override_on_send_only(trio):
    (x, y, _), root = trio
    a = services.create_instance("fleet-ra", x.url, x.api_key)
    b = services.create_instance("fleet-rb", y.url, y.api_key)
    services.pair_instances(a, b)
    paths = {a: str(root / "x" / "ro"), b: str(root / "y" / "ro")}
    services.share_folder("ro", paths, "sendreceive")
    services.share_folder("ro", {b: paths[b]}, "receiveonly")
    services.share_folder("ro", {a: paths[a]}, "sendonly")
    with y.client() as st:
        assert st.config.folders.get("ro")["type"] == "receiveonly"
        wait_for(lambda: st.db.status("ro")["state"] == "idle", STEP, what="ro idle at y")
        (root / "y" / "ro" / "local.txt").write_text("made at the receive-only copy")
        st.db.scan("ro")
        wait_for(lambda: st.db.status("ro").get("receiveOnlyTotalItems"), STEP, what="a local change at y")
    reports = services.revert_folder("ro", [a, b])
    assert [r.status for r in reports] == ["unchanged", "changed"]
    with y.client() as st:
        wait_for(lambda: not st.db.status("ro").get("receiveOnlyTotalItems"), STEP, what="reverted at y")
    assert [r.status for r in services.revert_folder("ro", [a, b])] == ["unchanged", "unchanged"]
    wait_for(lambda: not (root / "y" / "ro" / "local.txt").exists(), STEP, what="local.txt gone at y")
    # nothing differs at the send-only copy: override changes nothing
    assert [r.status for r in services.override_folder("ro", [a, b])] == ["unchanged", "unchanged"]


@pytest.mark.django_db
def test_override_on_send_only_undoes_a_remote_change(trio, admin_user):
    """y changes a file of a folder x sends only: x is out of sync until the override makes x's copy global again."""
    (x, y, _), root = trio
    a = services.create_instance("fleet-oa", x.url, x.api_key)
    b = services.create_instance("fleet-ob", y.url, y.api_key)
    services.pair_instances(a, b)
    here, there = root / "x" / "so", root / "y" / "so"
    here.mkdir()
    (here / "doc.txt").write_text("the send-only original")
    services.share_folder("so", {a: str(here), b: str(there)}, "sendreceive")
    services.share_folder("so", {a: str(here)}, "sendonly")
    wait_for(lambda: (there / "doc.txt").exists(), STEP, what="doc.txt at y")
    # sharing again without a type (as the admin action does) keeps each copy's type: nothing changes
    assert [r.status for r in services.share_folder("so", {a: str(here), b: str(there)})] == ["unchanged"] * 2
    with x.client() as sx, y.client() as sy:
        assert sx.config.folders.get("so")["type"] == "sendonly"
        wait_for(lambda: sy.db.status("so")["state"] == "idle", STEP, what="so idle at y")
        (there / "doc.txt").write_text("y's change, not wanted at the send-only source")
        sy.db.scan("so")
        wait_for(lambda: sx.db.status("so").get("needTotalItems") == 1, STEP, what="x out of sync")
        assert (here / "doc.txt").read_text() == "the send-only original"  # send-only: x never pulls

        api = APIClient()
        api.force_authenticate(admin_user)
        body = {"folder": "so", "instances": ["fleet-oa", "fleet-ob"]}
        answer = api.post("/api/v1/syncthing/fleet/override/", body, format="json")
        assert answer.status_code == 200, answer.content
        assert [r["status"] for r in answer.json()["reports"]] == ["changed", "unchanged"]
        assert answer.json()["reports"][0]["changes"] == ["folder so overridden"]

        wait_for(
            lambda: (there / "doc.txt").read_text() == "the send-only original",
            STEP,
            what="y takes x's version back",
        )
        wait_for(
            lambda: not sx.db.status("so").get("needTotalItems") and not sy.db.status("so").get("needTotalItems"),
            STEP,
            what="nothing needed on either side",
        )
        assert sx.db.file("so", "doc.txt")["global"]["size"] == len("the send-only original")
        assert not list(there.glob("doc.sync-conflict-*"))
    again = api.post("/api/v1/syncthing/fleet/override/", body, format="json")
    assert [r["status"] for r in again.json()["reports"]] == ["unchanged", "unchanged"]


@pytest.mark.django_db
def test_admin_fleet_actions_confirm_removal_and_edit_ignores(trio, client, admin_user):
    (x, y, _), root = trio
    a = services.create_instance("fleet-aa", x.url, x.api_key)
    b = services.create_instance("fleet-ab", y.url, y.api_key)
    client.force_login(admin_user)
    url = "/admin/syncthing_bridge/syncthinginstance/"
    chosen = {"_selected_action": [a.pk, b.pk]}
    answer = client.post(url, {"action": "pair_selected", "argument": "", **chosen})
    assert answer.status_code == 302
    # sharing asks for the path on each instance first, ~/<id> filled in; nothing is created before the answer
    page = client.post(url, {"action": "share_folder", "argument": "adm", **chosen})
    assert page.status_code == 200
    form = page.content.decode()
    for instance in (a, b):
        assert f'name="path_{instance.pk}" value="~/adm"' in form
    assert _folder_of(x, "adm") is None and _folder_of(y, "adm") is None
    share = {"action": "share_folder", "argument": "adm", "confirmed": "yes", **chosen}
    refused = client.post(url, {**share, f"path_{a.pk}": "/tmp/a\x00b"}, follow=True)
    assert "not a usable folder path" in refused.content.decode()
    assert _folder_of(x, "adm") is None and _folder_of(y, "adm") is None
    chosen_path = root / "x" / "chosen-adm"
    answer = client.post(url, {**share, f"path_{a.pk}": str(chosen_path), f"path_{b.pk}": " "})
    assert answer.status_code == 302
    assert _folder_of(x, "adm")["path"] == str(chosen_path)
    assert _folder_of(y, "adm")["path"].endswith("/adm")  # left blank: the default
    assert {d["deviceID"] for d in _folder_of(y, "adm")["devices"]} == {x.device_id, y.device_id}
    page = client.post(url, {"action": "edit_ignores", "argument": "adm", **chosen})
    assert page.status_code == 200 and "Set the patterns" in page.content.decode()
    client.post(url, {"action": "edit_ignores", "argument": "adm", "confirmed": "yes", "patterns": "*.tmp\n", **chosen})
    with y.client() as st:
        assert st.db.ignores("adm")["ignore"] == ["*.tmp"]
    confirm = client.post(url, {"action": "unshare_folder", "argument": "adm", "_selected_action": [b.pk]})
    assert confirm.status_code == 200 and "Yes, remove it" in confirm.content.decode()
    assert _folder_of(y, "adm") is not None  # nothing removed before the confirmation
    client.post(url, {"action": "unshare_folder", "argument": "adm", "confirmed": "yes", "_selected_action": [b.pk]})
    assert _folder_of(y, "adm") is None
    assert y.device_id not in {d["deviceID"] for d in _folder_of(x, "adm")["devices"]}


def _folder_of(daemon: LocalDaemon, folder_id: str) -> dict | None:
    with daemon.client() as st:
        return next((f for f in st.config.folders.list() if f["id"] == folder_id), None)


@pytest.mark.django_db(transaction=True)
def test_offers_versioning_folder_pause_and_live_state(trio, admin_user, client):
    """With the listener running and no refresh: a folder offer is listed and accepted from the page, versioning
    and pausing a folder go to both daemons (idempotent), a pull error shows with its path, what is needed, and
    the peer's completion once it has the file; a peer going away and back shows at once."""
    from syncthing_bridge.models import FolderCompletion, FolderError, PendingFolder

    (x, y, _), root = trio
    a = services.create_instance("fleet-la", x.url, x.api_key)
    b = services.create_instance("fleet-lb", y.url, y.api_key)
    services.pair_instances(a, b)
    services.refresh_instances([a, b])
    stop = threading.Event()
    listener = threading.Thread(target=services.listen, args=([a, b],), kwargs={"stop": stop, "poll_timeout": 1})
    listener.start()
    client.force_login(admin_user)
    api = APIClient()
    api.force_authenticate(admin_user)
    try:
        # 1. x offers a folder to y (set up on x's side directly): listed, then accepted with the page's button
        with x.client() as st:
            st.config.folders.add(
                {"id": "offer", "path": str(root / "x" / "offer"), "devices": [{"deviceID": y.device_id}]}
            )
        wait_for(
            lambda: PendingFolder.objects.filter(instance=b, folder_id="offer", offered_by=x.device_id).exists(),
            STEP,
            what="the offer listed at y",
        )
        page = turn(client.get, "/syncthing/state/").content.decode()
        assert 'data-pending-folder="offer"' in page and f"/syncthing/instances/{b.pk}/accept-folder/" in page
        here = root / "y" / "offer"
        answer = turn(
            client.post,
            f"/syncthing/instances/{b.pk}/accept-folder/",
            {"folder": "offer", "device": x.device_id, "path": str(here)},
        )
        assert answer.status_code == 302
        assert _folder_of(y, "offer")["path"] == str(here)
        wait_for(lambda: not PendingFolder.objects.filter(instance=b).exists(), STEP, what="the offer gone")
        wait_for(
            lambda: SyncthingFolder.objects.filter(instance=b, folder_id="offer").exists(), STEP, what="offer at y"
        )
        again = turn(
            api.post,
            "/api/v1/syncthing/fleet/accept-folder/",
            {"instance": "fleet-lb", "folder": "offer", "device": x.device_id, "path": str(here)},
            format="json",
        )
        assert [r["status"] for r in again.json()["reports"]] == ["unchanged"]

        # 2. versioning on both, through the API; the second time changes nothing
        body = {"folder": "offer", "versioning": {"type": "staggered", "params": {"maxAge": "86400"}}}
        answer = turn(api.post, "/api/v1/syncthing/fleet/versioning/", body, format="json")
        assert [r["status"] for r in answer.json()["reports"]] == ["changed", "changed"], answer.content
        for daemon in (x, y):
            versioning = _folder_of(daemon, "offer")["versioning"]
            assert versioning["type"] == "staggered" and versioning["params"]["maxAge"] == "86400"
        again = turn(api.post, "/api/v1/syncthing/fleet/versioning/", body, format="json")
        assert [r["status"] for r in again.json()["reports"]] == ["unchanged", "unchanged"]

        # 3. pause and resume the folder on both (the command line), seen in Syncsite at once
        for verb, paused in (("pause-folder", True), ("resume-folder", False)):
            turn(call_command, "syncthing", verb, "offer")
            assert all(_folder_of(d, "offer").get("paused", False) is paused for d in (x, y))
            wait_for(
                lambda p=paused: SyncthingFolder.objects.filter(folder_id="offer", paused=p).count() == 2,
                STEP,
                what=f"offer {verb}d in Syncsite",
            )
            assert {r.status for r in turn(services.set_folder_paused, "offer", paused, [a, b])} == {"unchanged"}

        # 4. y cannot write a file x has (a directory stands where its temporary file goes): the error with its
        # path, the bytes and items y needs, and y's completion as x sees it
        seen_at_x = FolderCompletion.objects.filter(
            folder__instance=a, folder__folder_id="offer", device_id=y.device_id
        )
        turn(seen_at_x.delete)  # from here on only the daemon's FolderCompletion event writes it
        blocker = here / ".syncthing.big.bin.tmp"
        blocker.mkdir(parents=True, exist_ok=True)
        (blocker / "keep").write_text("a directory in the way")
        (root / "x" / "offer" / "big.bin").write_bytes(b"\x01" * 300_000)
        with x.client() as st:
            st.db.scan("offer")
        error = wait_for(
            lambda: FolderError.objects.filter(folder__instance=b, folder__folder_id="offer", path="big.bin").first(),
            STEP,
            what="y's pull error in Syncsite",
        )
        assert error.error
        wait_for(
            lambda: SyncthingFolder.objects.filter(
                instance=b, folder_id="offer", need_items__gte=1, need_bytes__gte=300_000
            ).exists(),
            STEP,
            what="what y needs",
        )
        page = turn(client.get, "/syncthing/").content.decode()
        assert 'data-error-path="big.bin"' in page
        (blocker / "keep").unlink()
        blocker.rmdir()
        # the daemon retries a failed pull only after a minute; pausing and resuming the folder retries at once
        for paused in (True, False):
            turn(services.set_folder_paused, "offer", paused, [b])
        wait_for(lambda: (here / "big.bin").exists(), STEP, what="big.bin at y once unblocked")
        wait_for(
            lambda: (
                not FolderError.objects.filter(folder__instance=b).exists()
                and SyncthingFolder.objects.filter(instance=b, folder_id="offer", need_items=0).exists()
            ),
            STEP,
            what="the error gone and nothing needed",
        )
        wait_for(lambda: seen_at_x.filter(completion=100, need_items=0).exists(), STEP, what="y complete as x sees it")

        # 5. y goes away and comes back: x's row for y follows (DeviceDisconnected, DeviceConnected)
        row = SyncthingDevice.objects.filter(instance=a, device_id=y.device_id)
        wait_for(lambda: row.filter(connected=True).exists(), STEP, what="x sees y connected")
        y.stop()
        wait_for(lambda: row.filter(connected=False).exists(), STEP, what="x sees y disconnected")
        y.start()
        wait_for(lambda: row.filter(connected=True).exists(), STEP, what="x sees y again")
    finally:
        stop.set()
        listener.join(30)
        if not y.is_running():
            y.start()
