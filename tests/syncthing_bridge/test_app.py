"""The Django side of syncthing_bridge against real daemons: admin, state mirror, pages, listener, inventory."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.urls import reverse

from syncthing_bridge import services, tasks
from syncthing_bridge.client import SyncthingConnectionError, SyncthingUnauthorizedError
from syncthing_bridge.localdaemon import wait_connected, wait_for
from syncthing_bridge.models import SyncthingDevice, SyncthingFolder, SyncthingInstance
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def make_instance(daemon, name=None, site="", **fields) -> SyncthingInstance:
    fields.setdefault("syncthing_only", True)  # these sites have no tracker volume
    return services.create_instance(name or f"st-{daemon.name}", daemon.url, daemon.api_key, site=site, **fields)


@pytest.mark.django_db
def test_api_key_is_encrypted_at_rest_and_write_only_in_admin(client, admin_user, cluster):
    instance = make_instance(cluster.a)
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM syncthing_bridge_syncthinginstance WHERE id = %s", [instance.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("fernet:") and cluster.a.api_key not in stored
    client.force_login(admin_user)
    url = reverse("admin:syncthing_bridge_syncthinginstance_change", args=[instance.pk])
    page = client.get(url).content.decode()
    assert cluster.a.api_key not in page and "Leave blank to keep the current value" in page
    response = client.post(
        url,
        {
            "name": "st-a-renamed",
            "url": cluster.a.url,
            "api_key": "",
            "ca_certificate": "",
            "site": "siteA",
            "syncthing_only": "on",  # no tracker volume siteA in this test
            "enabled": "on",
            "timeout": "10",
            "mappings-TOTAL_FORMS": "0",
            "mappings-INITIAL_FORMS": "0",
            "devices-TOTAL_FORMS": "0",
            "devices-INITIAL_FORMS": "0",
            "folders-TOTAL_FORMS": "0",
            "folders-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    instance.refresh_from_db()
    assert instance.name == "st-a-renamed" and instance.api_key == cluster.a.api_key
    add = client.get(reverse("admin:syncthing_bridge_syncthinginstance_add")).content.decode()
    assert 'type="password"' in add
    keyless = {
        "name": "keyless",
        "url": cluster.b.url,
        "api_key": "",
        "site": "",
        "timeout": "10",
        "ca_certificate": "",
        "mappings-TOTAL_FORMS": "1",
        "mappings-INITIAL_FORMS": "0",
        "mappings-0-folder_id": "shared",
        "mappings-0-tracker_prefix": "relative",
        "mappings-0-publish_local_files": "on",
    }
    refused = client.post(reverse("admin:syncthing_bridge_syncthinginstance_add"), keyless)
    assert refused.status_code == 200 and "The daemon&#x27;s API key is required." in refused.content.decode()
    assert "A tracker path starts with /" in refused.content.decode()
    assert not SyncthingInstance.objects.filter(name="keyless").exists()


@pytest.mark.django_db
def test_connection_and_refresh_mirror_devices_folders_and_completion(cluster, django_assert_max_num_queries):
    a = make_instance(cluster.a, site="siteA")
    info = services.test_connection(a)
    assert info["device_id"] == cluster.a.device_id and info["version"].startswith("v")
    assert services.refresh_instance(a) is True
    a.refresh_from_db()
    assert a.reachable and a.uptime is not None and a.device_id == cluster.a.device_id
    devices = {d.device_id: d for d in SyncthingDevice.objects.filter(instance=a)}
    assert devices[cluster.a.device_id].is_self
    assert devices[cluster.b.device_id].connected and devices[cluster.b.device_id].name == "b"
    folder = SyncthingFolder.objects.get(instance=a, folder_id=cluster.folder)
    assert folder.state in {"idle", "scanning", "syncing", "scan-waiting", "sync-waiting", "sync-preparing"}
    completion = folder.completions.get()
    assert completion.device_id == cluster.b.device_id and 0 <= completion.completion <= 100
    # the refresh replaces rows instead of piling them up
    assert services.refresh_instance(a) is True
    assert SyncthingDevice.objects.filter(instance=a).count() == 2
    make_instance(cluster.b, site="siteB")
    assert tasks.refresh_all() == {"refreshed": 2, "failed": []}
    with django_assert_max_num_queries(9):
        overview = services.overview()
        assert sum(len(i.folders.all()) for i in overview) == 2
        assert all(len(f.completions.all()) == 1 for i in overview for f in i.folders.all())


@pytest.mark.django_db
def test_wrong_key_and_daemon_down_are_recorded(cluster):
    wrong = services.create_instance("wrong", cluster.a.url, "not-the-key")
    with pytest.raises(SyncthingUnauthorizedError):
        services.test_connection(wrong)
    wrong.refresh_from_db()
    assert not wrong.reachable and "rejected the API key" in wrong.last_error
    down = services.create_instance("down", f"http://127.0.0.1:{free_port()}", "key", timeout=2)
    with pytest.raises(SyncthingConnectionError):
        services.test_connection(down)
    assert services.refresh_instance(down) is False
    down.refresh_from_db()
    assert "cannot reach Syncthing" in down.last_error
    assert tasks.refresh_all()["failed"] == ["down", "wrong"]


@pytest.mark.django_db
def test_admin_actions(client, admin_user, cluster):
    a = make_instance(cluster.a)
    c = make_instance(cluster.c)
    client.force_login(admin_user)
    url = reverse("admin:syncthing_bridge_syncthinginstance_changelist")

    def act(action, instance, argument=""):
        response = client.post(
            url, {"action": action, "_selected_action": [instance.pk], "argument": argument}, follow=True
        )
        assert response.status_code == 200
        return [str(m) for m in response.context["messages"]]

    assert "connected (v" in act("test_connection", a)[0]
    assert "refreshed" in act("refresh_state", a)[0]
    assert "rescan of shared requested" in act("rescan_folder", a, cluster.folder)[0]
    assert "Give the folder or device id" in act("rescan_folder", a)[0]
    assert "no such folder" in act("rescan_folder", a, "nope")[0]
    assert "paused" in act("pause_device", a, cluster.b.device_id)[0]
    st = cluster.a.client()
    wait_for(lambda: st.system.connections()["connections"][cluster.b.device_id]["paused"], 10, what="paused")
    assert "resumed" in act("resume_device", a, cluster.b.device_id)[0]
    wait_connected([cluster.a, cluster.b])
    assert "device ID invalid" in act("pause_device", a, "bogus")[0]
    assert "restart requested" in act("restart", c)[0]
    wait_for(lambda: cluster.c.process.poll() is not None, 20, what="c to exit for its restart")
    cluster.c.stop()
    cluster.c.start()


@pytest.mark.django_db
def test_pages_show_instances_devices_folders_and_completion(
    client, admin_user, cluster, django_assert_max_num_queries
):
    client.force_login(admin_user)
    assert "No Syncthing instance yet" in client.get("/syncthing/").content.decode()
    assert services.dashboard_cards() == [] and services.dashboard_sections() == []
    for daemon, site in ((cluster.a, "siteA"), (cluster.b, "siteB")):
        services.refresh_instance(make_instance(daemon, site=site))
    with django_assert_max_num_queries(12):
        page = client.get("/syncthing/").content.decode()
    assert 'data-instance="st-a"' in page and 'data-instance="st-b"' in page
    assert f'data-device="{cluster.b.device_id}"' in page and 'data-folder="shared"' in page and " %" in page
    home = client.get("/").content.decode()
    assert 'data-section="syncthing"' in home and 'data-card="syncthing"' in home
    cards = services.dashboard_cards()
    assert cards[0]["count"] == 2 and cards[0]["note"] == "2 reachable"
    client.logout()
    assert client.get("/syncthing/").status_code == 302


@pytest.mark.django_db
def test_listen_command_errors():
    with pytest.raises(CommandError, match="no enabled Syncthing instance"):
        call_command("syncthing_listen", "--duration", "0")
    with pytest.raises(CommandError, match="no such Syncthing instance: ghost"):
        call_command("syncthing_listen", "ghost")


def _stored_id(instance) -> int:
    try:
        return SyncthingInstance.objects.get(pk=instance.pk).last_event_id
    except OperationalError:  # SQLite's shared test cache, locked by a listener thread for a moment
        return 0


def _tracked(path: str, key: str):
    """A key of a tracker node, read while listener threads write (SQLite's shared test cache may be locked)."""
    from tracker import services as tracker

    try:
        return (tracker.get_node(path) or {}).get(key)
    except OperationalError:
        return None


def _newest_event(daemon) -> int:
    return daemon.client().events()._newest_id("events")


@pytest.mark.django_db(transaction=True)
def test_listener_marks_files_synced_at_the_right_site_and_publishes_local_files(cluster):
    """A file written at site A: A's listener publishes it ('modified at siteA'), B's marks it synced_siteB."""
    from tracker import services as tracker

    for site in ("siteA", "siteB"):
        tracker.create_volume(site, url=f"file:///{site}/")
    a = make_instance(cluster.a, site="siteA", last_event_id=_newest_event(cluster.a))
    b = make_instance(cluster.b, site="siteB", last_event_id=_newest_event(cluster.b))
    for instance in (a, b):
        services.map_folder(instance, cluster.folder, "/proj")
    sub = f"listen-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    result = {}
    listener = threading.Thread(target=lambda: result.update(stats=services.listen([a, b], stop=stop, poll_timeout=2)))
    listener.start()
    try:
        (cluster.path(cluster.a) / sub).mkdir()
        (cluster.path(cluster.a) / sub / "shot.exr").write_text("pixels")
        path = f"/proj/{sub}/shot.exr"
        node = wait_for(lambda: _tracked(path, "synced_siteB"), 45, what="synced_siteB")
        assert node
        first = tracker.get_node(path)
        assert first["origin"] == "siteA" and first["file_size"] == 6
        assert "modified at siteA" in [child.get("comment") for child in tracker.children_of(path)]
        # changed at B: B becomes the origin ("modified at siteB"), then A has it again
        (cluster.path(cluster.b) / sub / "shot.exr").write_text("pixels, retouched")
        wait_for(lambda: _tracked(path, "origin") == "siteB", 45, what="origin siteB after the change at B")
        try:
            wait_for(lambda: (_tracked(path, "synced_siteA") or 0) >= _tracked(path, "time"), 45, what="A has it again")
        except TimeoutError:
            print(
                "DEBUG", tracker.get_node(path), [(c.get("comment"), c.get("time")) for c in tracker.children_of(path)]
            )
            raise
        assert tracker.get_node(path)["file_size"] == 17
        assert "modified at siteB" in [child.get("comment") for child in tracker.children_of(path)]
        # deleted at A
        (cluster.path(cluster.a) / sub / "shot.exr").unlink()
        wait_for(lambda: _tracked(path, "deleted"), 45, what="deleted")
    finally:
        stop.set()
        listener.join(30)
    node = tracker.get_node(path)
    assert node["deleted"] is True and "syncError_siteB" not in node
    stats = result["stats"]
    # both pulls were recognised from ItemFinished (B's first, then A's after the change at B)
    assert stats.published >= 1 and stats.synced >= 2 and stats.modified >= 1 and stats.deleted >= 1
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.last_event_id > 0 and b.last_event_id > 0 and a.listener_seen and not b.listener_error


@pytest.mark.django_db(transaction=True)
def test_listener_follows_a_restarted_daemon_and_stores_the_new_event_id(cluster):
    c = make_instance(cluster.c, site="siteC")
    stop = threading.Event()
    thread = threading.Thread(target=lambda: services.listen([c], stop=stop, poll_timeout=1))
    thread.start()
    try:
        wait_for(lambda: SyncthingInstance.objects.get(pk=c.pk).last_event_id > 0, 20, what="first events stored")
        st = cluster.c.client()
        for kbps in range(1, 12):  # each change is a ConfigSaved event: ids well above a fresh run's first ones
            st.config.options.patch({"maxRecvKbps": kbps % 11})
        newest = _newest_event(cluster.c)
        before = wait_for(lambda: _stored_id(c) >= newest and _stored_id(c), 20, what="more events stored")
        cluster.c.restart()
        after = wait_for(lambda: 0 < _stored_id(c) < before and _stored_id(c), 30, what="the new run's ids stored")
        assert after < before
    finally:
        stop.set()
        thread.join(30)


@pytest.mark.django_db
def test_inventory_plugin_makes_each_instance_a_host(cluster):
    from hosts.models import Host
    from syncthing_bridge.plugins.inventory import syncthing_inventory

    make_instance(cluster.a, name="st-a.example", site="siteA")
    make_instance(cluster.b, name="st-b.example", site="siteB")
    stats = syncthing_inventory()
    assert stats["created"] == 2 and stats["invalid"] == []
    host = Host.objects.get(hostname="st-a.example")
    inventory = host.get_inventory("syncthing__")
    assert inventory["syncthing__version"].startswith("v")
    assert inventory["syncthing__uptime"] >= 0
    assert inventory["syncthing__connected_devices"] == ["b"]
    assert set(inventory["syncthing__folder_states"]) == {"shared"}
    again = syncthing_inventory()
    assert again["created"] == 0 and again["updated"] + again["unchanged"] == 2
    from hosts.cronjobs import registered_cronjobs  # where syncerapi.v1.register_cronjob put it

    assert registered_cronjobs()["syncthing_inventory"] is syncthing_inventory


@pytest.mark.django_db(transaction=True)
def test_listen_task_runs_for_a_bounded_time(cluster):
    make_instance(cluster.a)
    stats = tasks.listen(seconds=1)
    assert stats["events"] >= 1
    assert SyncthingInstance.objects.get(name="st-a").last_event_id > 0


@pytest.mark.django_db(transaction=True)
def test_listen_command_tails_the_named_instance(cluster):
    from io import StringIO

    make_instance(cluster.a)
    make_instance(cluster.b, enabled=False)
    out = StringIO()
    call_command("syncthing_listen", "st-a", "--duration", "1", "--poll-timeout", "1", stdout=out)
    assert "listening to st-a" in out.getvalue() and "stopped: " in out.getvalue()
    assert SyncthingInstance.objects.get(name="st-a").last_event_id > 0
    assert SyncthingInstance.objects.get(name="st-b").last_event_id == 0


@pytest.mark.django_db
def test_instance_ca_certificate_verifies_a_self_signed_gui(tls_daemon):
    pem = tls_daemon.ca_file.read_text()
    instance = services.create_instance("tls", tls_daemon.url, tls_daemon.api_key, ca_certificate=pem)
    assert services.test_connection(instance)["version"].startswith("v")
    without = services.create_instance("tls-untrusted", tls_daemon.url, tls_daemon.api_key)
    with pytest.raises(SyncthingConnectionError, match="TLS error"):
        services.test_connection(without)


@pytest.mark.django_db(transaction=True)
def test_listener_records_why_it_cannot_follow_and_keeps_trying(cluster, settings):
    settings.SYNCTHING_LISTENER_MIN_BACKOFF = 0.2
    down = services.create_instance("down", f"http://127.0.0.1:{free_port()}", "key", timeout=1)
    wrong = services.create_instance("wrong", cluster.a.url, "not-the-key")
    started = time.monotonic()
    services.listen([down, wrong], duration=3, poll_timeout=1)
    assert time.monotonic() - started < 20
    down.refresh_from_db()
    wrong.refresh_from_db()
    assert "cannot reach Syncthing" in down.listener_error and down.last_event_id == 0
    assert "rejected the API key" in wrong.listener_error


@pytest.mark.django_db
def test_feed_tracker_rules_for_finished_items(cluster, write_and_wait):
    """Event batches as daemon b would send them, about files b really has."""
    from syncthing_bridge.services import FeedStats, _FeedState, feed_tracker
    from tracker import services as tracker

    tracker.create_volume("paris", url="file:///paris/")
    tracker.create_volume("tokyo", url="file:///tokyo/")
    for name in ("a.txt", "later.txt", "other-version.txt"):
        write_and_wait(f"feed/{name}", name)
    tracker.publish("/proj/feed/a.txt", origin="paris", author="test", file_size=5)
    tracker.publish("/proj/feed/other-version.txt", origin="paris", author="test", file_size=999)
    tokyo = services.create_instance("tokyo-st", cluster.b.url, cluster.b.api_key, site="tokyo", syncthing_only=True)
    services.map_folder(tokyo, cluster.folder, "/proj/")

    def finished(item, folder=cluster.folder, error=None, action="update", kind="file"):
        data = {"folder": folder, "item": item, "error": error, "action": action, "type": kind}
        return {"id": 1, "type": "ItemFinished", "data": data}

    state = _FeedState()
    stats = feed_tracker(
        tokyo,
        [
            finished("feed/a.txt"),
            finished("feed/a.txt", folder="unmapped"),
            finished("feed/b.txt", error="permission denied"),
            finished("feed", kind="dir"),
            finished("feed/gone.txt", action="delete"),
            finished("feed/later.txt"),
            finished("feed/other-version.txt"),
        ],
        state=state,
    )
    assert stats == FeedStats(synced=1, unmatched=2, events=7)
    assert "synced_tokyo" in tracker.get_node("/proj/feed/a.txt")
    # later.txt is published afterwards (its origin's listener was slower): the next batch picks it up;
    # other-version.txt stays unsynced until the tracker records the version tokyo has
    tracker.publish("/proj/feed/later.txt", origin="paris", author="test")
    stats = feed_tracker(tokyo, [], state=state)
    assert stats.synced == 1 and stats.unmatched == 1 and "synced_tokyo" in tracker.get_node("/proj/feed/later.txt")
    assert "synced_tokyo" not in tracker.get_node("/proj/feed/other-version.txt")
    tracker.update_node("/proj/feed/other-version.txt", {"file_size": len("other-version.txt")})
    assert feed_tracker(tokyo, [], state=state).synced == 1 and not state.waiting
    # paris's daemon reports 100 % at tokyo: tokyo's own files are synced at paris, once per transition
    services.create_instance(
        "paris-st", "http://127.0.0.1:2", "k", site="paris", syncthing_only=True, device_id="PARIS-DEVICE"
    )
    tracker.publish("/proj/from-tokyo.txt", origin="tokyo", author="test")

    def completion(value):
        return {
            "id": 2,
            "type": "FolderCompletion",
            "data": {"folder": cluster.folder, "device": "PARIS-DEVICE", "completion": value},
        }

    assert feed_tracker(tokyo, [completion(50)], state=state).completed == 0
    assert feed_tracker(tokyo, [completion(100)], state=state).completed == 1
    assert "synced_paris" in tracker.get_node("/proj/from-tokyo.txt")
    assert "synced_paris" not in tracker.get_node("/proj/feed/a.txt")  # came from paris: not tokyo's to vouch for
    assert feed_tracker(tokyo, [completion(100)], state=state).completed == 0  # no new walk while it stays at 100
    with pytest.raises(ValidationError):
        services.map_folder(tokyo, "other", "relative/path")
    # an instance without a site feeds nothing
    nosite = services.create_instance("nosite", "http://127.0.0.1:1", "k")
    services.map_folder(nosite, cluster.folder, "/proj")
    assert feed_tracker(nosite, [finished("feed/a.txt")]) == FeedStats(events=1)


@pytest.mark.django_db(transaction=True)
def test_listener_samples_transfer_rates_between_refreshes(cluster, settings, write_and_wait):
    """A file pulled by b shows as a receive rate from a on b's device row while the listener runs: the listener
    samples the connections' byte counters every SYNCTHING_RATE_SAMPLE_SECONDS, far more often than refreshes."""
    settings.SYNCTHING_RATE_SAMPLE_SECONDS = 0.5
    b = make_instance(cluster.b, last_event_id=_newest_event(cluster.b))
    assert services.refresh_instance(b)
    row = SyncthingDevice.objects.filter(instance=b, device_id=cluster.a.device_id)
    before = row.get()
    refreshed = SyncthingInstance.objects.get(pk=b.pk).last_refresh
    stop = threading.Event()
    listener = threading.Thread(target=services.listen, args=([b],), kwargs={"stop": stop, "poll_timeout": 2})
    listener.start()
    size = 4 * 1024 * 1024
    peak, samples, refreshes = 0.0, set(), set()
    try:
        write_and_wait(f"rates-{uuid.uuid4().hex[:8]}.bin", os.urandom(size // 2).hex())

        def received() -> bool:
            nonlocal peak
            device = row.get()
            peak = max(peak, device.in_bytes_per_second)
            samples.add(device.bytes_at)
            refreshes.add(SyncthingInstance.objects.get(pk=b.pk).last_refresh)
            return device.in_bytes_total >= before.in_bytes_total + size and device.bytes_at > before.bytes_at

        wait_for(received, 30, interval=0.05, what="b's byte counters sampled by the listener")
        wait_for(lambda: received() and peak > 0, 10, interval=0.05, what="a receive rate")
        wait_for(lambda: received() and row.get().in_bytes_per_second == 0, 20, what="the rate back to 0 after it")
    finally:
        stop.set()
        listener.join(30)
    # readings between refreshes (a ConfigSaved event may cause one): the listener's
    assert len(samples - {before.bytes_at}) > len(refreshes - {refreshed}), (samples, refreshes)


@pytest.mark.django_db(transaction=True)
def test_every_change_event_of_a_burst_is_applied(cluster, caplog):
    """Twenty files land in one folder at once: each LocalChangeDetected (a) and RemoteChangeDetected (b) event is
    applied and logged once committed, though the folder's last change shows only one of them."""
    caplog.set_level(logging.DEBUG, logger="syncthing_bridge.live.applied")
    daemons = (cluster.a, cluster.b)
    instances = []
    for daemon in daemons:
        with daemon.client() as st:
            newest = st.events()._newest_id("events/disk")
        instances.append(make_instance(daemon, last_disk_event_id=newest, last_event_id=_newest_event(daemon)))
    services.refresh_instances(instances)
    stop = threading.Event()
    listener = threading.Thread(target=services.listen, args=(instances,), kwargs={"stop": stop, "poll_timeout": 1})
    listener.start()
    burst = f"burst-{uuid.uuid4().hex[:8]}"
    names = {f"{burst}/{n:02}.txt" for n in range(20)}

    def emitted() -> set[tuple[str, int]]:
        found = set()
        for instance, daemon in zip(instances, daemons, strict=True):
            with daemon.client() as st:
                for event in st.events().get("events/disk", params={"since": 0, "timeout": 0}) or []:
                    if (event.get("data") or {}).get("path") in names:
                        found.add((instance.name, event["id"]))
        return found

    def applied() -> set[tuple[str, int]]:
        return {(r.args[0], int(r.args[2])) for r in caplog.records if r.name == "syncthing_bridge.live.applied"}

    try:
        (cluster.path(cluster.a) / burst).mkdir()
        for name in names:
            (cluster.path(cluster.a) / name).write_text(name)
        with cluster.a.client() as st:
            st.db.scan(cluster.folder, sub=burst)
        wait_for(lambda: len(emitted()) >= 2 * len(names), 45, what="both daemons' change events for the burst")
        wait_for(lambda: emitted() <= applied(), 30, what="every change event applied")
    finally:
        stop.set()
        listener.join(30)
    assert {r.args[4] for r in caplog.records if r.name == "syncthing_bridge.live.applied"} >= names


@pytest.mark.django_db(transaction=True)
def test_listen_command_prints_applied_changes_at_verbosity_2(cluster, write_and_wait):
    from io import StringIO

    from syncthing_bridge import live

    with cluster.b.client() as st:
        newest = st.events()._newest_id("events/disk")
    make_instance(cluster.b, last_disk_event_id=newest, last_event_id=_newest_event(cluster.b))
    out = StringIO()
    command = threading.Thread(
        target=call_command,
        args=("syncthing_listen", "st-b", "--duration", "6", "--poll-timeout", "1"),
        kwargs={"stdout": out, "verbosity": 2},
    )
    command.start()
    name = f"verbose-{uuid.uuid4().hex[:8]}.txt"
    write_and_wait(name)
    command.join(30)
    lines = [line.split(" ") for line in out.getvalue().splitlines() if " applied " in line]
    assert [(p[2], p[3], p[6]) for p in lines if p[6] == name] == [("st-b", cluster.folder, name)]
    assert live.applied_log.level == logging.NOTSET and live.applied_log.propagate
