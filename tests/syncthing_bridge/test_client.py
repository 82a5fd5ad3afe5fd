"""The bindings against real Syncthing daemons (see conftest.py): every call that is safe to make."""

from __future__ import annotations

import contextlib
import doctest
import socket
import threading
import time

import pytest

from syncthing_bridge import client as client_module
from syncthing_bridge.client import (
    BaseAPI,
    ErrorEvent,
    Syncthing,
    SyncthingAPIError,
    SyncthingConnectionError,
    SyncthingError,
    SyncthingHTTPError,
    SyncthingNotFoundError,
    SyncthingSSLError,
    SyncthingTimeoutError,
    SyncthingUnauthorizedError,
    SyncthingUnsupportedError,
    keys_to_datetime,
    parse_datetime,
)
from syncthing_bridge.localdaemon import wait_connected, wait_for
from tests.conftest import free_port

pytestmark = pytest.mark.integration


def test_spec_doctests_pass_against_a_live_daemon(cluster):
    """The python-syncthing documentation's examples, unchanged, with _syncthing() pointing at daemon a."""
    a = cluster.a

    def _syncthing():
        return Syncthing(a.api_key, "127.0.0.1", a.gui_port, 10.0, False, None)

    _syncthing().system.clear_errors()  # the daemon logs a startup warning when it runs as root
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs = {**vars(client_module), "_syncthing": _syncthing}
    tests = finder.find(client_module, globs=globs)
    examples = sum(len(t.examples) for t in tests)
    assert examples >= 40
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed (see output above)"


def test_public_names_match_python_syncthing():
    for name in (
        "Syncthing",
        "BaseAPI",
        "System",
        "Database",
        "Statistics",
        "Misc",
        "Events",
        "SyncthingError",
        "ErrorEvent",
        "keys_to_datetime",
        "parse_datetime",
    ):
        assert hasattr(client_module, name), name
    s = Syncthing("key", "127.0.0.1", 1, 2.0, False, None)
    assert s.sys is s.system and s.db is s.database
    assert s.system.prefix == "/rest/system/" and s.db.prefix == "/rest/db/"
    assert s.stats.prefix == "/rest/stats/" and s.misc.prefix == "/rest/svc/"
    assert s.events().prefix == "/rest/"
    assert s.events(limit=5, timeout=70.0).session is s.session
    stream = s.events(limit=5, timeout=70.0, host="other")  # python-syncthing let keywords override the client's
    assert stream.timeout == 70.0 and stream.url == "http://other:1" and stream.session is not s.session
    # one connection pool for the whole client
    assert s.system.session is s.db.session is s.stats.session is s.misc.session is s.config.session
    assert issubclass(SyncthingUnauthorizedError, SyncthingError)
    assert ErrorEvent(None, "m").message == "m"
    assert parse_datetime("") is None
    with pytest.raises(SyncthingError):
        parse_datetime("not a date at all")
    assert keys_to_datetime({"x": 1}, "x", "missing") == {"x": 1}


def test_system_calls(cluster):
    s = cluster.a.client().system
    assert s.ping() == {"ping": "pong"}
    assert s.ping("POST") == {"ping": "pong"}
    version = s.version()
    assert version["version"].startswith("v1.") or version["version"].startswith("v2.")
    status = s.status()
    assert status["myID"] == cluster.a.device_id and status["startTime"].year >= 2020  # a datetime, as before
    assert isinstance(s.browse(str(cluster.root) + "/"), list)
    assert any(p.rstrip("/").endswith("a") for p in s.browse(str(cluster.root) + "/"))
    assert s.browse() is not None
    assert s.config_insync() is True
    assert isinstance(s.discovery(), dict)
    log = s.log()
    assert "messages" in log
    assert isinstance(s.connections()["connections"][cluster.b.device_id]["connected"], bool)
    s.enable_debug("model", "scanner")
    assert {"model", "scanner"} <= set(s.debug()["enabled"] or [])
    s.disable_debug("model", "scanner")
    assert not {"model", "scanner"} & set(s.debug()["enabled"] or [])
    s.show_error("disk full at a")
    errors = s.errors()
    assert errors[-1].message == '"disk full at a"' and errors[-1].when.year >= 2020
    s.clear()
    assert s.errors() == []
    # upgrades are disabled in this build/environment: the daemon says so with an HTTP error
    try:
        upgrade = s.upgrade()
    except SyncthingHTTPError as exc:
        assert exc.status_code >= 500
    else:
        assert "running" in upgrade
    try:
        assert isinstance(s.can_upgrade(), bool)
    except SyncthingHTTPError as exc:  # "upgrade unsupported" in this build
        assert exc.status_code == 503


def test_system_add_discovery_and_config_roundtrip(cluster):
    s = cluster.c.client().system
    try:
        s.add_discovery(cluster.a.device_id, cluster.a.listen_address)
    except SyncthingUnsupportedError as exc:  # Syncthing >= 0.14.x dropped POST /rest/system/discovery
        assert exc.status_code == 405
    config = s.config()
    assert config["version"] >= 15
    config["options"]["maxSendKbps"] = 7
    s.set_config(config)
    wait_for(lambda: s.config()["options"]["maxSendKbps"] == 7, 10, what="config applied")
    config["options"]["maxSendKbps"] = 0
    s.set_config(config)
    assert isinstance(s.config_restart_required(), bool)


def test_newer_endpoints_say_when_the_daemon_lacks_them(cluster):
    st = cluster.a.client()
    for call in (st.noauth.health, st.system.paths, st.system.loglevels):
        try:
            answer = call()
        except SyncthingUnsupportedError as exc:
            assert exc.status_code == 404 and "has no endpoint" in str(exc)
        else:
            assert isinstance(answer, dict)


def test_database_calls(cluster, write_and_wait):
    write_and_wait("db/one.txt", "one")
    a, b = cluster.a.client(), cluster.b.client()
    folder = cluster.folder
    tree = a.db.browse(folder)  # Syncthing >= 1.17 answers a list of entries (older ones a dict)
    assert "db" in [entry["name"] for entry in tree]
    assert [entry["name"] for entry in a.db.browse(folder, levels=0, prefix="db")] == ["one.txt"]
    completion = a.db.completion(cluster.b.device_id, folder)
    assert 0 <= completion <= 100
    details = a.db.completion_details(folder, cluster.b.device_id)
    assert "needBytes" in details
    info = b.db.file(folder, "db/one.txt")
    assert info["global"]["name"] == "db/one.txt" and info["global"]["size"] == 3
    assert a.db.ignores(folder)["ignore"] in (None, [])
    assert a.db.set_ignores(folder) == {}
    a.db.set_ignores(folder, "*.tmp", "// comment")
    assert a.db.ignores(folder)["ignore"] == ["*.tmp", "// comment"]
    a.db.set_ignores(folder, "// none")
    need = b.db.need(folder, page=1, perpage=10)
    assert {"progress", "queued", "rest"} <= set(need)
    assert b.db.prio(folder, "db/one.txt") is not None
    assert isinstance(a.db.scan(folder), str)
    a.db.scan(folder, sub="db", next_=5)
    status = a.db.status(folder)
    assert status["state"] in {"idle", "scanning", "scan-waiting", "syncing", "sync-waiting", "sync-preparing"}
    assert "needFiles" in a.db.remoteneed(folder, cluster.b.device_id, page=1, perpage=10) or True
    a.db.override(folder)  # a no-op on a send-receive folder (Syncthing 1.19 answers 200)
    for call in (lambda: a.db.localchanged(folder), lambda: a.db.revert(folder)):
        try:
            call()
        except SyncthingHTTPError as exc:  # only receive-only folders have local changes to list or revert
            assert exc.status_code in (400, 500)


def test_stats_and_misc(cluster):
    st = cluster.a.client()
    assert cluster.b.device_id in st.stats.device()
    assert cluster.folder in st.stats.folder()
    assert st.misc.device_id(cluster.b.device_id.lower().replace("-", "")) == cluster.b.device_id
    with pytest.raises(SyncthingError, match="device ID invalid"):
        st.misc.device_id("abc")
    assert st.misc.language() == [""]
    assert len(st.misc.random_string(10)) == 10
    assert "longVersion" in st.misc.report()


def test_config_api(cluster):
    c = cluster.c.client()
    whole = c.config.get_config()
    assert whole["version"] >= 35
    assert c.config.insync() is True
    assert isinstance(c.config.restart_required(), bool)
    options = c.config.options.get()
    c.config.options.patch({"maxSendKbps": 123})
    assert c.config.options.get()["maxSendKbps"] == 123
    options["maxSendKbps"] = 0
    c.config.options.put(options)
    assert c.config.options.get()["maxSendKbps"] == 0
    assert c.config.gui.get()["apiKey"] == cluster.c.api_key
    assert "address" in c.config.ldap.get()
    assert "rescanIntervalS" in c.config.default_folder.get()
    c.config.default_folder.patch({"rescanIntervalS": 1234})
    assert c.config.default_folder.get()["rescanIntervalS"] == 1234
    assert "compression" in c.config.default_device.get()
    assert "lines" in c.config.default_ignores.get()
    path = cluster.root / "c" / "scratch"
    path.mkdir(parents=True, exist_ok=True)
    c.config.folders.add({"id": "scratch", "path": str(path)})
    assert c.config.folders.get("scratch")["rescanIntervalS"] == 1234  # the defaults apply
    c.config.folders.patch("scratch", {"label": "Scratch"})
    folder = c.config.folders.get("scratch")
    assert folder["label"] == "Scratch"
    folder["label"] = "Scratch 2"
    c.config.folders.put(folder)
    assert [f["label"] for f in c.config.folders.list() if f["id"] == "scratch"] == ["Scratch 2"]
    c.config.folders.delete("scratch")
    with pytest.raises(SyncthingNotFoundError) as excinfo:
        c.config.folders.get("scratch")
    assert excinfo.value.status_code == 404
    devices = c.config.devices.list()
    assert [d["deviceID"] for d in devices] == [cluster.c.device_id]
    assert c.config.devices.get(cluster.c.device_id)["name"] == "c"


def test_cluster_pending_devices_and_folders(cluster, tmp_path):
    """c offers itself and a folder to a; a sees them pending, accepts the device, accepts then removes the folder."""
    a, c = cluster.a.client(), cluster.c.client()
    offer_path = tmp_path / "offer-c"
    offer_path.mkdir()
    c.config.devices.add({"deviceID": cluster.a.device_id, "name": "a", "addresses": [cluster.a.listen_address]})
    try:
        pending = wait_for(lambda: a.cluster.pending_devices().get(cluster.c.device_id), 30, what="c pending at a")
        assert "address" in pending
        a.cluster.dismiss_device(cluster.c.device_id)
        assert cluster.c.device_id not in a.cluster.pending_devices()
        a.cluster.accept_device(cluster.c.device_id, "c", addresses=[cluster.c.listen_address])
        assert a.config.devices.get(cluster.c.device_id)["name"] == "c"
        wait_connected([cluster.a, cluster.c], timeout=30)
        c.config.folders.add({"id": "offer", "path": str(offer_path), "devices": [{"deviceID": cluster.a.device_id}]})
        offered = wait_for(lambda: a.cluster.pending_folders().get("offer"), 30, what="folder offer at a")
        assert cluster.c.device_id in offered["offeredBy"]
        assert "offer" in a.cluster.pending_folders(device=cluster.c.device_id)
        with pytest.raises(SyncthingError, match="give the path"):
            a.cluster.accept_folder("offer", cluster.c.device_id)
        a.cluster.accept_folder("offer", cluster.c.device_id, str(tmp_path / "offer-a"))
        accepted = a.config.folders.get("offer")
        assert {d["deviceID"] for d in accepted["devices"]} >= {cluster.c.device_id}
        c.config.folders.add(
            {"id": "offer2", "path": str(offer_path) + "2", "devices": [{"deviceID": cluster.a.device_id}]}
        )
        wait_for(lambda: a.cluster.pending_folders().get("offer2"), 30, what="second offer at a")
        a.cluster.dismiss_folder("offer2", cluster.c.device_id)
        assert "offer2" not in a.cluster.pending_folders()
    finally:
        for client, other in ((a, cluster.c), (c, cluster.a)):
            with contextlib.suppress(SyncthingNotFoundError):
                client.config.devices.delete(other.device_id)
        for folder in ("offer", "offer2"):
            for client in (a, c):
                with contextlib.suppress(SyncthingNotFoundError):
                    client.config.folders.delete(folder)


def test_folder_errors_and_versions(cluster, write_and_wait):
    b = cluster.b.client()
    b.config.folders.patch(cluster.folder, {"versioning": {"type": "simple", "params": {"keep": "3"}}})
    try:
        write_and_wait("versioned.txt", "v1")
        write_and_wait("versioned.txt", "v2 longer")
        versions = wait_for(lambda: b.folder.versions(cluster.folder).get("versioned.txt"), 20, what="a version")
        assert versions[0]["size"] == 2
        assert b.folder.restore(cluster.folder, {"versioned.txt": versions[0]["versionTime"]}) == {}
        assert "versionTime" in versions[0] and "modTime" in versions[0]
    finally:
        b.config.folders.patch(cluster.folder, {"versioning": {"type": "", "params": {}}})
    errors = b.folder.errors(cluster.folder)
    assert errors["folder"] == cluster.folder and (errors["errors"] or []) == []


def test_pause_and_resume_a_device(cluster):
    a = cluster.a.client()
    result = a.system.pause(cluster.b.device_id)
    assert result == {"success": True, "error": None}
    wait_for(lambda: a.system.connections()["connections"][cluster.b.device_id]["paused"], 10, what="paused")
    assert a.system.resume(cluster.b.device_id) == {"success": True, "error": None}
    wait_connected([cluster.a, cluster.b], timeout=30)
    bad = a.system.pause("not-a-device")
    assert bad["success"] is False and "device ID invalid" in bad["error"]


def test_wrong_api_key_is_unauthorized(cluster):
    wrong = Syncthing("wrong-key", "127.0.0.1", cluster.a.gui_port)
    with pytest.raises(SyncthingUnauthorizedError) as excinfo:
        wrong.system.version()
    assert excinfo.value.status_code in (401, 403)
    assert "rejected the API key" in str(excinfo.value)
    with pytest.raises(SyncthingUnauthorizedError):
        wrong.system.pause(cluster.b.device_id)
    with pytest.raises(SyncthingUnauthorizedError):
        next(iter(wrong.events()))


def test_daemon_down_is_a_connection_error():
    port = free_port()
    down = Syncthing("key", "127.0.0.1", port, timeout=2.0)
    with pytest.raises(SyncthingConnectionError) as excinfo:
        down.system.ping()
    assert f"127.0.0.1:{port}" in str(excinfo.value)
    assert not isinstance(excinfo.value, SyncthingTimeoutError)
    # python-syncthing's raw_exceptions still hands back the requests exception
    import requests

    with pytest.raises(requests.ConnectionError):
        down.system.get("ping", raw_exceptions=True)
    stream = down.events(max_retries=1, retry_delay=0.01)
    with pytest.raises(SyncthingConnectionError):
        next(iter(stream))
    assert stream.last_error is not None


def test_daemon_that_never_answers_is_a_timeout():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)  # accepts connections in the backlog, never answers
        st = Syncthing("key", "127.0.0.1", server.getsockname()[1], timeout=0.3)
        started = time.monotonic()
        with pytest.raises(SyncthingTimeoutError, match=r"within 0\.3s"):
            st.system.ping()
        assert time.monotonic() - started < 3


def test_unsupported_verb_and_api_error():
    api = BaseAPI("key", "127.0.0.1", 1)
    with pytest.raises(SyncthingError, match="unsupported http verb"):
        api._request("HEAD", "/rest/system/ping")
    assert issubclass(SyncthingAPIError, SyncthingError)


def test_event_stream_never_drops_the_middle_of_a_burst(cluster):
    """python-syncthing sends `limit`, and the daemon then keeps only the newest events of a burst: never here."""
    b = cluster.b.client()
    # A filtered subscription exists on the daemon from its first request on: make it before the burst.
    start = b.events()._newest_id("events", ["ItemFinished"])
    names = [f"burst/{i:03}.txt" for i in range(60)]
    (cluster.path(cluster.a) / "burst").mkdir(exist_ok=True)
    for name in names:
        (cluster.path(cluster.a) / name).write_text(name)
    stream = b.events(last_seen_id=start, filters=["ItemFinished"], limit=5, poll_timeout=2)
    seen: set[str] = set()

    def consume():
        for event in stream:
            assert event["type"] == "ItemFinished"
            seen.add(event["data"]["item"])
            if set(names) <= seen:
                stream.stop()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    thread.join(45)
    stream.stop()
    assert set(names) <= seen, f"missing {sorted(set(names) - seen)[:5]}..."
    assert stream.count >= len(names) and stream.last_seen_id > start


def test_disk_events_and_stop(cluster):
    a = cluster.a.client()
    start = a.events()._newest_id("events/disk")
    stream = a.events(last_seen_id=start, poll_timeout=2)
    (cluster.path(cluster.a) / "disk-event.txt").write_text("x")
    for event in stream.disk_events():
        if event["data"]["path"] == "disk-event.txt":
            assert event["type"] == "LocalChangeDetected"
            stream.stop()
    assert stream.last_seen_id > start


def test_event_stream_survives_a_daemon_restart(cluster):
    """c restarts while a stream tails it: the stream waits, notices ids started over and yields the new run."""
    c = cluster.c
    stream = c.client().events(last_seen_id=0, poll_timeout=2, retry_delay=0.2, max_retry_delay=1)
    seen: list[dict] = []
    restarted = threading.Event()

    def consume():
        for event in stream:
            seen.append(event)
            if restarted.is_set() and event["type"] == "StartupComplete":
                stream.stop()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    wait_for(lambda: any(e["type"] == "StartupComplete" for e in seen), 10, what="first run's events")
    # make the first run's ids go well past what the new run will have reached when the stream comes back
    client = c.client()
    for _ in range(40):
        client.system.show_error("bump")
        client.system.clear_errors()
    c.client().config.options.patch({"maxRecvKbps": 1})
    c.client().config.options.patch({"maxRecvKbps": 0})
    wait_for(lambda: stream.last_seen_id > 4, 10, what="more events")
    before = stream.last_seen_id
    restarted.set()
    c.restart()
    thread.join(40)
    assert not thread.is_alive(), "the stream blocked after the restart"
    assert stream.restarts >= 1
    new_run = [e for e in seen if e["type"] == "Starting"]
    assert len(new_run) == 2 and stream.last_seen_id < before


def test_restart_and_shutdown_through_the_api(cluster):
    c = cluster.c
    st = c.client()
    st.system.restart()  # with --no-restart the daemon exits instead of restarting itself
    wait_for(lambda: c.process.poll() is not None, 20, what="c to exit")
    c.stop()
    c.start()
    st.system.shutdown()
    wait_for(lambda: c.process.poll() is not None, 20, what="c to shut down")
    c.stop()
    with pytest.raises(SyncthingConnectionError):
        st.system.ping()
    c.start()
    assert st.system.ping() == {"ping": "pong"}
    with pytest.raises(SyncthingHTTPError) as excinfo:
        st.system.do_upgrade()  # this build cannot upgrade itself, and says so
    assert excinfo.value.status_code >= 500
    (cluster.root / "c" / "resettable").mkdir(exist_ok=True)
    st.config.folders.add({"id": "resettable", "path": str(cluster.root / "c" / "resettable"), "paused": True})
    st.system.reset_folder("resettable")  # erases that folder's index, then restarts (here: exits)
    wait_for(lambda: c.process.poll() is not None, 20, what="c to exit after resetting a folder")
    c.stop()
    c.start()
    st.config.folders.delete("resettable")
    st.system.reset()  # erases the index database, then restarts (here: exits)
    wait_for(lambda: c.process.poll() is not None, 20, what="c to exit after the reset")
    c.stop()
    c.start()
    assert st.system.ping() == {"ping": "pong"}


def test_https_with_the_certificate_file_as_ca_bundle(tls_daemon):
    d = tls_daemon
    st = Syncthing(d.api_key, "127.0.0.1", d.gui_port, 10.0, True, str(d.ca_file))
    assert st.system.ping() == {"ping": "pong"}
    assert Syncthing.from_url(d.url, d.api_key, ssl_cert_file=str(d.ca_file)).system.version()["version"]
    untrusted = Syncthing(d.api_key, "127.0.0.1", d.gui_port, 10.0, True, None)
    with pytest.raises(SyncthingSSLError, match="TLS error"):
        untrusted.system.ping()
    plain = Syncthing(d.api_key, "127.0.0.1", d.gui_port, 5.0, False, None)
    with pytest.raises(SyncthingError):
        plain.system.ping()  # http to an https port: the daemon redirects or refuses, never a silent success


def test_environment_is_read_once_when_the_client_is_made(monkeypatch):
    """Proxies and the CA bundle come from the environment as requests would take them, resolved up front."""
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    remote = Syncthing("k", "nas.example", 8384)
    assert remote.session.proxies.get("http") == "http://proxy.example:3128"
    assert remote.system.verify == "/etc/ssl/certs/ca-certificates.crt" and remote.session.trust_env is False
    local = Syncthing("k", "127.0.0.1", 8384, 10.0, True, "/tmp/gui-ca.pem")
    assert "http" not in local.session.proxies and local.system.verify == "/tmp/gui-ca.pem"


def test_filtered_stream_survives_a_daemon_restart(cluster):
    """Ids count per subscription: a filtered stream checks its own subscription for a restart."""
    c = cluster.c
    st = c.client()
    stream = st.events(filters=["ConfigSaved"], poll_timeout=1, retry_delay=0.2, max_retry_delay=1)
    start = stream._newest_id("events", ["ConfigSaved"])
    stream._last_seen_id = start
    for kbps in range(1, 9):
        st.config.options.patch({"maxSendKbps": kbps})
    seen: list[dict] = []
    after_restart = threading.Event()

    def consume():
        for event in stream:
            seen.append(event)
            if after_restart.is_set() and event["data"]["options"]["maxSendKbps"] == 77:
                stream.stop()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    wait_for(lambda: len(seen) >= 8, 15, what="the first run's ConfigSaved events")
    after_restart.set()
    c.restart()

    def change_again() -> bool:
        st.config.options.patch({"maxSendKbps": 77})
        return not thread.is_alive() or stream.restarts >= 1

    wait_for(change_again, 20, interval=1.0, what="the stream to notice the restart")
    thread.join(20)
    st.config.options.patch({"maxSendKbps": 0})
    assert not thread.is_alive() and stream.restarts == 1
    assert seen[-1]["data"]["options"]["maxSendKbps"] == 77 and seen[-1]["id"] < seen[7]["id"]


def test_spec_events_example(cluster, capsys):
    """The Events example of the python-syncthing documentation, as written there."""
    syncthing = cluster.a.client()
    event_stream = syncthing.events(limit=5)

    for event in event_stream:
        print(event)
        if event_stream.count > 10:
            event_stream.stop()

    assert event_stream.count == 11
    assert len(capsys.readouterr().out.splitlines()) == 11
