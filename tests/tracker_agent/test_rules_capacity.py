"""Glob rules enforced by the agent on every transfer, volume capacity (local and over ssh), query counts."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import require_binary
from tests.tracker_agent.conftest import publish_file, write_file
from tracker import services
from tracker.agent.capacity import parse_df, remote_df_command
from tracker.agent.rsync import CONFIG_ERROR, EXCLUDED
from tracker.agent.runner import DELETION_STORM, SiteAgent
from tracker.agent.volumes import parse_volume_url
from tracker.models import Node

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _rsync_installed():
    require_binary("rsync")


def test_rules_choose_what_a_site_receives(make_site):
    a, b = make_site("A", enableReception=False), make_site("B")
    for path in ("/p/a.exr", "/p/b.tmp", "/p/cache/c.exr", "/p/d.mov"):
        publish_file(a, path, path)
    write_file(a.root, "/p/pkg/in.exr", "in")
    write_file(a.root, "/p/pkg/junk.tmp", "junk")
    publish_file(a, "/p/pkg/")
    services.set_global_parameters({"excludePatternRules": "*.tmp, /p/cache/*", "includePatternRules": "*.exr"})
    report = SiteAgent("B").run_once(force_scan=False)
    assert (report.reception.synced, report.reception.errors) == (2, 3)
    assert (b.root / "p/a.exr").exists() and (b.root / "p/pkg/in.exr").exists()
    for absent in ("p/b.tmp", "p/cache/c.exr", "p/d.mov", "p/pkg/junk.tmp"):
        assert not (b.root / absent).exists(), absent
    for path, reason in (("/p/b.tmp", "excluded"), ("/p/cache/c.exr", "excluded"), ("/p/d.mov", "no include")):
        node = services.get_node(path)
        assert node["syncError_B"] == EXCLUDED and reason in node["syncErrorMessage_B"], node


def test_a_stored_rule_that_does_not_parse_copies_nothing(make_site):
    a, b = make_site("A", enableReception=False), make_site("B")
    publish_file(a, "/p/a.exr")
    services.set_global_parameters({"excludePatternRules": "*.tmp"})
    # Written around the services (an old database, a restore): the agent judges the rule again.
    node = Node.objects.get(node_id="rsyncGlobalParameters")
    node.data["excludePatternRules"] = "merge /etc/passwd"
    node.save()
    report = SiteAgent("B").run_once(force_scan=False)
    assert report.reception.synced == 0 and not (b.root / "p/a.exr").exists()
    assert services.get_node("/p/a.exr")["syncError_B"] == CONFIG_ERROR


def test_a_batch_costs_the_same_queries_whatever_its_size(make_site):
    a, _b = make_site("A", enableReception=False), make_site("B", syncAmountReception=1000)
    for i in range(5):
        publish_file(a, f"/small/f{i}")
    agent = SiteAgent("B")
    agent.heartbeat()
    with CaptureQueriesContext(connection) as small:
        assert agent.receive_batch().synced == 5
    services.publish_many([{"_id": f"/big/f{i:03}", "origin": "A"} for i in range(300)], author="alice")
    for i in range(300):
        write_file(a.root, f"/big/f{i:03}", "x")
    with CaptureQueriesContext(connection) as big:
        assert agent.receive_batch().synced == 300
    # Claim, copy and record in a fixed number of statements (savepoints included): nothing per file.
    assert len(big.captured_queries) <= len(small.captured_queries) <= 25


def test_local_capacity_and_the_tracker_page(make_site, client, admin_user):
    b = make_site("B")
    SiteAgent("B").heartbeat()
    volume = services.get_volume("B")
    st = os.statvfs(b.root)
    assert volume["bytesTotal"] == st.f_blocks * st.f_frsize
    assert 0 < volume["bytesUsed"] <= volume["bytesTotal"]
    services.update_volume("B", {"exit_deletion": DELETION_STORM, "stderr_deletion": "deletion storm: 250 files"})
    client.force_login(admin_user)
    html = client.get("/tracker/").content.decode()
    assert 'class="capacity"' in html and " of " in html
    assert "deletions stopped" in html and "deletion storm: 250 files" in html


def test_capacity_over_ssh_is_a_fixed_df_command(agent_ssh, make_site, tmp_path):
    root = tmp_path / "remote"
    make_site("R", url=agent_ssh.url(root), root=root)
    location = parse_volume_url(agent_ssh.url(root))
    command = remote_df_command(location)
    assert command[0] == "ssh" and "BatchMode=yes" in command
    assert command[-7:] == ["--", f"{agent_ssh.user}@127.0.0.1", "df", "-P", "-k", "--", str(root)]
    SiteAgent("R").heartbeat()
    volume = services.get_volume("R")
    assert "capacityError" not in volume, volume.get("capacityError")
    st = os.statvfs(root)
    assert volume["bytesTotal"] == st.f_blocks * st.f_frsize // 1024 * 1024


def test_df_output_is_parsed_strictly():
    out = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 1000 250 750 25% /srv/my data\n"
    assert parse_df(out) == (1000 * 1024, 250 * 1024)
    with pytest.raises(Exception, match="unexpected df output"):
        parse_df("garbage")
