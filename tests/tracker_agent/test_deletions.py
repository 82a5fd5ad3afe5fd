"""Deletions at the origin propagate into each site's trash (never unlinked), bounded per round; restore, purge."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import require_binary
from tests.tracker_agent.conftest import publish_file, write_file
from tracker import services
from tracker.agent import trash
from tracker.agent.runner import DELETION_STORM, SiteAgent

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _rsync_installed():
    require_binary("rsync")


@pytest.fixture
def three(make_site):
    """A is the origin (its scan sees deletions), B propagates them, C keeps the default (off)."""
    a = make_site("A", enableReception=False, enableDiscovery=True, enableDiscoveryDeletedFiles=True)
    b = make_site("B", enableDeletion=True)
    c = make_site("C")
    paths = [f"/p/f{i}.txt" for i in range(4)]
    for path in paths:
        publish_file(a, path, path)
    write_file(a.root, "/p/pkg/in.txt", "in")
    publish_file(a, "/p/pkg/")
    for site in ("B", "C"):
        assert SiteAgent(site).run_once(force_scan=False).reception.synced == 5
    SiteAgent("A").scan(force=True)  # baseline: file_mtime / file_size of the origin's files
    return a, b, c, paths


def delete_at_origin(a, *node_ids: str) -> None:
    for node_id in node_ids:
        target = a.root / node_id.strip("/")
        if target.is_dir():
            for inner in sorted(target.rglob("*"), reverse=True):
                inner.unlink() if inner.is_file() else inner.rmdir()
            target.rmdir()
        else:
            target.unlink()
    assert SiteAgent("A").scan(force=True).deleted == len(node_ids)


def test_a_deletion_at_the_origin_moves_the_copies_into_the_trash(three):
    a, b, c, paths = three
    delete_at_origin(a, paths[0], "/p/pkg/")
    report = SiteAgent("B").run_once(force_scan=False)
    assert (report.deletion.trashed, report.deletion.errors, report.deletion.storm) == (2, 0, False)
    day = trash.today()
    assert not (b.root / "p/f0.txt").exists()
    assert (b.root / trash.TRASH_DIR / day / "p/f0.txt").read_text() == paths[0]
    assert (b.root / trash.TRASH_DIR / day / "p/pkg/in.txt").read_text() == "in"
    assert (b.root / "p/f1.txt").exists()
    node = services.get_node(paths[0])
    assert node["trashed_B"] > 0 and "synced_B" not in node and node["deleted"] is True
    assert services.get_volume("B")["exit_deletion"] == 0
    # Done once: the next round finds nothing; C (enableDeletion off by default) keeps its copy.
    assert SiteAgent("B").run_once(force_scan=False).deletion.trashed == 0
    assert SiteAgent("C").run_once(force_scan=False).deletion.skipped
    assert (c.root / "p/f0.txt").read_text() == paths[0]
    # B's own scan never publishes what is in its trash.
    services.update_volume("B", {"enableDiscovery": True})
    assert SiteAgent("B").scan(force=True).new == 0
    assert trash.list_trash(str(b.root)) == [(day, "/p/f0.txt"), (day, "/p/pkg/in.txt")]


def test_a_deletion_storm_moves_nothing_and_alerts(three):
    a, b, _c, paths = three
    services.update_volume("B", {"deletionMaxPerRound": 2})
    delete_at_origin(a, *paths[:3])
    report = SiteAgent("B").run_once(force_scan=False)
    assert report.deletion.storm and report.deletion.trashed == 0
    for path in paths[:3]:
        assert (b.root / path.lstrip("/")).exists()
    assert not (b.root / trash.TRASH_DIR).exists()
    volume = services.get_volume("B")
    assert volume["exit_deletion"] == DELETION_STORM
    assert "deletion storm" in volume["stderr_deletion"] and "nothing was moved" in volume["stderr_deletion"]
    # A person checked the origin and allows this round: the files go to the trash, the alert clears.
    services.update_volume("B", {"deletionMaxPerRound": 3})
    assert SiteAgent("B").run_once(force_scan=False).deletion.trashed == 3
    assert services.get_volume("B")["exit_deletion"] == 0


def test_a_deletion_seen_away_from_the_origin_is_not_propagated(three):
    _a, b, c, _paths = three
    services.update_volume("C", {"enableDiscovery": True, "enableDiscoveryDeletedFiles": True})
    (c.root / "p/f1.txt").unlink()
    assert SiteAgent("C").scan(force=True).deleted == 1
    assert SiteAgent("B").run_once(force_scan=False).deletion.trashed == 0
    assert (b.root / "p/f1.txt").exists()


def test_restore_and_purge(three):
    a, b, _c, paths = three
    delete_at_origin(a, paths[0], paths[1])
    SiteAgent("B").run_once(force_scan=False)
    day = trash.today()
    out = StringIO()
    call_command("tracker_trash", "--site", "B", "list", stdout=out)
    assert f"{day}\t/p/f0.txt" in out.getvalue()
    call_command("tracker_trash", "--site", "B", "restore", day, "/p/f0.txt", stdout=StringIO())
    assert (b.root / "p/f0.txt").read_text() == paths[0]
    write_file(b.root, "/p/f1.txt", "a new file took the place")
    with pytest.raises(CommandError):
        call_command("tracker_trash", "--site", "B", "restore", day, "/p/f1.txt", "/../etc/passwd", stderr=StringIO())
    assert (b.root / "p/f1.txt").read_text() == "a new file took the place"
    assert (b.root / trash.TRASH_DIR / day / "p/f1.txt").exists()
    old = b.root / trash.TRASH_DIR / "2000-01-01" / "p"
    old.mkdir(parents=True)
    (old / "ancient.txt").write_text("x")
    services.update_volume("B", {"trashRetentionDays": 30})
    assert SiteAgent("B").run_once(force_scan=False).deletion.purged == ["2000-01-01"]
    assert (b.root / trash.TRASH_DIR / day / "p/f1.txt").exists()
    out = StringIO()
    call_command("tracker_trash", "--site", "B", "purge", "--days", "0", stdout=out)
    assert out.getvalue() == ""  # today's trash is younger than any retention
    now = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert trash.purge(str(b.root), 1, now=now) == [day]


def test_the_trash_never_leads_out_of_the_volume(three, tmp_path):
    a, b, _c, paths = three
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, b.root / trash.TRASH_DIR)
    delete_at_origin(a, paths[0])
    report = SiteAgent("B").run_once(force_scan=False)
    assert report.deletion.trashed == 0 and report.deletion.errors == 1
    assert (b.root / "p/f0.txt").exists() and not any(outside.iterdir())
    assert "trash" in services.get_volume("B")["stderr_deletion"]


def test_a_trash_day_that_cannot_be_removed_is_named_and_the_others_are_purged(three, monkeypatch):
    """rmtree failing (a permission error; this machine runs tests as root, who may remove anything, so the failure
    is simulated for one folder): the agent's round goes on and the command exits non-zero naming it."""
    _a, b, _c, _paths = three
    for day in ("2000-01-01", "2000-01-02"):
        (b.root / trash.TRASH_DIR / day / "p").mkdir(parents=True)
    real_rmtree = shutil.rmtree

    def rmtree(path, *args, **kwargs):
        if str(path).endswith("2000-01-01"):
            raise PermissionError(13, "Permission denied")
        return real_rmtree(path, *args, **kwargs)

    monkeypatch.setattr(trash.shutil, "rmtree", rmtree)
    errors: list[str] = []
    assert trash.purge(str(b.root), 1, errors=errors) == ["2000-01-02"]
    assert errors == [f"{trash.TRASH_DIR}/2000-01-01: Permission denied"]
    assert SiteAgent("B").run_once(force_scan=False).deletion.purged == []  # the round is not stopped
    err = StringIO()
    with pytest.raises(CommandError, match="1 day folders of the trash not purged"):
        call_command("tracker_trash", "--site", "B", "purge", "--days", "1", stdout=StringIO(), stderr=err)
    assert "2000-01-01: Permission denied" in err.getvalue()
