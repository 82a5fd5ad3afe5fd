"""The site agent end to end: real volumes on disk, real rsync (and ssh), the tracker through its services."""

from __future__ import annotations

import json
import os
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import require_binary
from tests.tracker_agent.conftest import publish_file, write_file
from tracker import services
from tracker.agent import AGENT_VERSION
from tracker.agent.rsync import UNSAFE_PATH
from tracker.agent.runner import SiteAgent

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _rsync_installed():
    require_binary("rsync")


def node(path: str) -> dict:
    return services.get_node(path)


def test_publish_at_a_then_b_and_c_receive(make_site, django_assert_max_num_queries):
    a, b, c = make_site("A", enableReception=False), make_site("B"), make_site("C", syncAmountReception=3)
    paths = [f"/proj/shots/s{i:02}.exr" for i in range(5)]
    for i, path in enumerate(paths):
        publish_file(a, path, os.urandom(1000 + i))
    write_file(a.root, "/proj/pkg/a.txt", "a")
    write_file(a.root, "/proj/pkg/sub/b.txt", "b")
    publish_file(a, "/proj/pkg/")

    agent_b = SiteAgent("B")
    agent_b.heartbeat()
    with django_assert_max_num_queries(40):  # a batch of 6 files: bulk claims and updates, not per file
        step = agent_b.receive_batch()
    assert (step.batches, step.synced, step.errors) == (1, 6, 0)
    report_c = SiteAgent("C").run_once()
    assert report_c.reception.batch_sizes == [3, 3]  # syncAmountReception=3
    for site in (b, c):
        for path in paths:
            assert (site.root / path.lstrip("/")).read_bytes() == (a.root / path.lstrip("/")).read_bytes()
        assert (site.root / "proj/pkg/sub/b.txt").read_text() == "b"
    for path in [*paths, "/proj/pkg/"]:
        current = node(path)
        assert current["synced_B"] >= current["time"] and current["synced_C"] >= current["time"]
        assert "syncing_B" not in current and "syncError_C" not in current
    volume = services.get_volume("B")
    assert volume["exit_reception"] == 0 and volume["stderr_reception"] == ""
    assert volume["last_reception"] > 0
    assert volume["agentStatus"] == "on" and volume["agentVersion"] == AGENT_VERSION
    agent_b.shutdown()
    volume = services.get_volume("B")
    assert volume["agentStatus"] == "off"
    assert volume["lastConnectionSuccess"] >= volume["agentStartTime"]
    assert volume["lastConnectionStatusChange"] > 0
    # Nothing left: the next round copies nothing.
    assert SiteAgent("B").run_once().reception.batches == 0


def test_priorities_first_and_destination_filters(make_site):
    a, b, c = make_site("A", enableReception=False), make_site("B", syncAmountReception=2), make_site("C")
    publish_file(a, "/p/low", sync_priority=-1)
    publish_file(a, "/p/normal")
    publish_file(a, "/p/urgent", sync_priority=9)
    publish_file(a, "/p/high", sync_priority=5)
    publish_file(a, "/p/only-c", syncEverywhere=False, sync_C=True, sync_priority=100)
    agent = SiteAgent("B")
    assert agent.receive_batch().synced == 2
    assert {p for p in ("/p/urgent", "/p/high", "/p/normal", "/p/low") if "synced_B" in node(p)} == {
        "/p/urgent",
        "/p/high",
    }
    agent.run_once()
    assert not (b.root / "p/only-c").exists()
    assert "synced_B" not in node("/p/only-c")
    SiteAgent("C").run_once()
    assert (c.root / "p/only-c").exists()
    # With syncEverywhere false globally, a file goes only where sync_<site> asks for it.
    services.set_global_parameters({"syncEverywhere": False})
    publish_file(a, "/p/later")
    publish_file(a, "/p/for-b", sync_B=True)
    SiteAgent("B").run_once()
    SiteAgent("C").run_once()
    assert (b.root / "p/for-b").exists() and not (c.root / "p/for-b").exists()
    assert not (b.root / "p/later").exists() and not (c.root / "p/later").exists()


def test_rsync_failure_is_recorded_and_retried_later(make_site, settings):
    settings.TRACKER_RETRY_BASE_SECONDS = 1
    a, b = make_site("A", enableReception=False), make_site("B")
    publish_file(a, "/p/fine.txt", "ok")
    source = publish_file(a, "/p/unreadable.txt", "later")
    unreadable = a.root / "p/unreadable.txt"
    if os.geteuid() == 0:
        unreadable.rename(a.root / "p/elsewhere")  # root reads mode-000 files: take it away instead
    else:
        unreadable.chmod(0)
    assert source["_id"] == "/p/unreadable.txt"
    report = SiteAgent("B").run_once()
    assert (report.reception.synced, report.reception.errors) == (1, 1)
    failed = node("/p/unreadable.txt")
    assert failed["syncError_B"] == 23 and failed["syncLastAttempt_B"] > 0
    assert "synced_B" not in failed and "syncing_B" not in failed
    volume = services.get_volume("B")
    assert volume["exit_reception"] == 23 and "unreadable.txt" in volume["stderr_reception"]
    assert not (b.root / "p/unreadable.txt").exists()
    # No hot loop: right away, the file is backing off.
    assert SiteAgent("B").run_once().reception.batches == 0
    if os.geteuid() == 0:
        (a.root / "p/elsewhere").rename(unreadable)
    else:
        unreadable.chmod(0o644)
    time.sleep(1.1)
    assert SiteAgent("B").run_once().reception.synced == 1
    fixed = node("/p/unreadable.txt")
    assert fixed["synced_B"] >= fixed["time"] and "syncError_B" not in fixed
    assert (b.root / "p/unreadable.txt").read_text() == "later"
    assert services.get_volume("B")["exit_reception"] == 0


def test_stale_claims_of_a_dead_agent_are_recovered(make_site, settings):
    settings.TRACKER_SYNCING_STALE_SECONDS = 60
    a, b = make_site("A", enableReception=False), make_site("B")
    publish_file(a, "/p/one", "1")
    publish_file(a, "/p/two", "2")
    services.mark_syncing("/p/one", "B", when=services.now_ms())  # another agent is on it right now
    services.mark_syncing("/p/two", "B", when=services.now_ms() - 3_600_000)  # its agent died an hour ago
    SiteAgent("B").run_once()
    assert "synced_B" in node("/p/two") and (b.root / "p/two").exists()
    assert "synced_B" not in node("/p/one") and node("/p/one")["syncing_B"]


def test_clean_stop_gives_claims_back(make_site):
    a, _b = make_site("A", enableReception=False), make_site("B")
    publish_file(a, "/p/x")
    agent = SiteAgent("B")
    claimed = services.claim_paths("B", 10)
    assert claimed == [("/p/x", "A")]
    agent._claim("B", [path for path, _origin in claimed])
    assert node("/p/x")["syncing_B"]
    agent.shutdown()
    assert "syncing_B" not in node("/p/x")


def test_paths_escaping_a_volume_are_refused(make_site, tmp_path):
    a, b = make_site("A", enableReception=False), make_site("B")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("not for B")
    os.symlink(outside, a.root / "door")
    services.publish("/door/secret", origin="A", author="alice")
    os.symlink(outside, b.root / "trap")
    publish_file(a, "/trap/payload", "would land outside B")
    write_file(a.root, "/pkg/f", "f")
    os.symlink("/etc", a.root / "pkg" / "etc")
    services.publish("/pkg/", origin="A", author="alice")
    publish_file(a, "/fine", "ok")
    report = SiteAgent("B").run_once()
    assert (report.reception.synced, report.reception.errors) == (1, 3)
    for path in ("/door/secret", "/trap/payload", "/pkg/"):
        assert node(path)["syncError_B"] == UNSAFE_PATH, path
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert not (b.root / "door").exists()


def test_volume_over_ssh_receives_by_emission_and_serves_as_origin(make_site, agent_ssh, tmp_path):
    require_binary("ssh")
    ssh_server = agent_ssh  # the agent's own ssh settings reach the server; volumes carry no ssh options
    a = make_site("A", enableReception=False, enableEmission=True, syncAmountEmission=2)
    b = make_site("B")
    make_site("C")
    d_root = tmp_path / "remote-d"
    d = make_site("D", url=ssh_server.url(d_root), root=d_root, enableReception=False)
    s_root = tmp_path / "remote-s"
    s = make_site("S", url=ssh_server.url(s_root), root=s_root, enableReception=False)
    for i in range(3):
        publish_file(a, f"/p/a{i}.bin", os.urandom(2000))
    publish_file(s, "/p/from-ssh.txt", "over ssh")
    report = SiteAgent("A").run_once()
    # D and S cannot pull: A pushes its files to both, two per batch (syncAmountEmission).
    assert sorted(report.emission.batch_sizes) == [1, 1, 2, 2] and report.emission.synced == 6
    for i in range(3):
        assert (d.root / f"p/a{i}.bin").read_bytes() == (a.root / f"p/a{i}.bin").read_bytes()
        assert node(f"/p/a{i}.bin")["synced_D"] > 0
    assert services.get_volume("A")["last_emission"] > 0
    received = SiteAgent("B").run_once()
    assert received.reception.errors == 0
    assert (b.root / "p/from-ssh.txt").read_text() == "over ssh"
    assert node("/p/from-ssh.txt")["synced_B"] > 0
    assert (s.root / "p/a0.bin").exists()


def test_scans_publish_new_files_and_see_modifications_and_deletions(make_site, settings):
    services.set_global_parameters({"excludePatternRules": "*.tmp, /proj/cache", "sleepBetweenScans": 3600})
    a = make_site(
        "A",
        enableReception=False,
        enableDiscovery=True,
        enableDiscoveryDeletedFiles=True,
        enableDiscoveryUpdatedFiles=True,
    )
    b = make_site("B")
    write_file(a.root, "/proj/one.exr", "one", mtime=1_700_000_000)
    write_file(a.root, "/proj/two.exr", "two")
    write_file(a.root, "/proj/skip.tmp", "tmp")
    write_file(a.root, "/proj/cache/c.bin", "cache")
    scan = SiteAgent("A").run_once().scan
    assert (scan.published, scan.modified, scan.deleted) == (2, 0, 0)
    one = node("/proj/one.exr")
    assert one["origin"] == "A" and one["author"] == "support"
    assert one["file_size"] == 3 and one["file_mtime"] == 1_700_000_000_000
    assert [child["comment"] for child in services.children_of("/proj/one.exr")] == ["scanned at A"]
    assert node("/proj/skip.tmp") is None and node("/proj/cache/c.bin") is None
    volume = services.get_volume("A")
    assert volume["exit_scan"] == 0 and volume["last_scan"] > 0 and volume["scan_duration"] >= 0
    SiteAgent("B").run_once()
    assert (b.root / "proj/one.exr").read_text() == "one"
    # sleepBetweenScans: the long-running agent does not rescan right away.
    assert SiteAgent("A").scan(force=False).skipped
    # Modify one file at A, delete the other.
    write_file(a.root, "/proj/one.exr", "one, longer", mtime=1_700_000_100)
    (a.root / "proj/two.exr").unlink()
    scan = SiteAgent("A").run_once().scan
    assert (scan.published, scan.modified, scan.deleted) == (0, 1, 1)
    one = node("/proj/one.exr")
    assert one["modified_A"] > 0 and one["file_size"] == 11 and one["synced_B"] < one["time"]
    assert node("/proj/two.exr")["deleted"] is True
    # B is outdated and fetches the new version; its own scan then sees nothing to report.
    SiteAgent("B").run_once()
    assert (b.root / "proj/one.exr").read_text() == "one, longer"
    services.update_volume("B", {"enableDiscovery": True, "enableDiscoveryDeletedFiles": True})
    quiet = SiteAgent("B").run_once().scan
    assert (quiet.published, quiet.modified, quiet.deleted) == (0, 0, 0)
    assert quiet.files == 2  # B's copy of two.exr stays; its node is already deleted, so it is neither new nor gone


def test_command_and_task(make_site, django_capture_on_commit_callbacks):
    a, b = make_site("A", enableReception=False), make_site("B")
    publish_file(a, "/p/cmd", "x")
    with pytest.raises(CommandError):
        call_command("tracker_agent", "--site", "nowhere", "--once")
    out = StringIO()
    call_command("tracker_agent", "--site", "B", "--once", stdout=out)
    summary = json.loads(out.getvalue().strip().splitlines()[-1])
    assert summary["reception"]["synced"] == 1
    assert (b.root / "p/cmd").exists()
    assert services.get_volume("B")["agentStatus"] == "off"
    from django_q.tasks import async_task, result

    publish_file(a, "/p/task", "y")
    task_id = async_task("tracker.tasks.agent_round", "B")
    assert result(task_id)["reception"]["synced"] == 1
    from tracker.tasks import agent_rounds, enqueue_agent_round

    make_site("R", url="ssh://nobody@127.0.0.1:1/remote")
    reports = agent_rounds()
    assert set(reports) == {"A", "B", "R"} and reports["R"] == {"skipped": "the volume is not on this machine"}
    publish_file(a, "/p/queued", "z")
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_agent_round("B")
    assert (b.root / "p/queued").read_text() == "z"


def test_batches_default_to_the_configured_size(make_site, settings):
    """A volume without syncAmountReception/-Emission takes TRACKER_DEFAULT_BATCH, as the work queue does."""
    settings.TRACKER_DEFAULT_BATCH = 2
    a = make_site("A", enableReception=False, enableEmission=True)
    make_site("B")
    make_site("D", enableReception=False)
    for i in range(3):
        publish_file(a, f"/proj/d{i}.txt", f"d{i}")
    assert services.batch_size(services.get_volume("B"), "syncAmountReception") == 2
    agent_b = services.site_agent("B")
    assert agent_b.receive_batch().batch_sizes == [2]
    agent_b.shutdown()
    agent_a = services.site_agent("A")
    assert agent_a.emit_batch().batch_sizes == [2]
    agent_a.shutdown()
