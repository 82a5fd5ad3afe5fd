"""tracker.services: the contract other apps code against (work queue, sync marks, volumes)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from tracker import services
from tracker.models import Node, SiteState

pytestmark = pytest.mark.django_db


def publish(path: str, origin: str = "paris", **keys) -> dict:
    return services.publish(path, origin=origin, author="alice", comment="first", **keys)


@pytest.mark.parametrize(
    "bad",
    ["relative/path", "/a//b", "/a/../b", "/..", "/a\x00b", "/" + "x" * 4096, ""],
)
def test_validate_file_id_refuses_bad_paths(bad):
    with pytest.raises(services.InvalidId) as info:
        services.validate_file_id(bad)
    assert isinstance(info.value, ValueError)
    assert str(info.value)


@pytest.mark.parametrize("good", ["/a", "/a/b.exr", "/pkg/", "/a/..b/c", "/" + "x" * 4095])
def test_validate_file_id_accepts_paths(good):
    assert services.validate_file_id(good) == good


def test_publish_creates_file_and_child_node(three_sites):
    before = services.now_ms()
    node = publish("/shots/s01.exr", sync_priority=3)
    assert node["_id"] == "/shots/s01.exr"
    assert node["author"] == "alice" and node["time"] >= before
    assert node["origin"] == "paris" and node["sync_priority"] == 3
    child = Node.objects.get(parent="/shots/s01.exr")
    assert len(child.node_id) == 24 and int(child.node_id, 16) >= 0
    assert child.data == {
        "#parent": "/shots/s01.exr",
        "comment": "first",
        "origin": "paris",
        "author": "alice",
        "time": node["time"],
    }
    # Every site but the origin gets a state row.
    assert sorted(SiteState.objects.values_list("site", flat=True)) == ["lima", "tokyo"]
    with pytest.raises(services.AlreadyExists):
        publish("/shots/s01.exr")
    with pytest.raises(services.InvalidId):
        publish("shots/s02.exr")


def test_publish_many_keeps_input_order_with_none(three_sites, django_assert_max_num_queries):
    publish("/a/exists")
    items = [
        {"_id": "/a/1", "origin": "paris", "comment": "c"},
        {"_id": "/a/exists", "origin": "paris"},
        {"_id": "bad", "origin": "paris"},
        {"_id": "/a/2", "origin": "tokyo"},
        {"_id": "/a/1", "origin": "paris"},
    ]
    with django_assert_max_num_queries(13):  # + the change log label (SQLite: mark, label, unmark)
        result = services.publish_many(items, author="bob")
    assert [r and r["_id"] for r in result] == ["/a/1", None, None, "/a/2", None]
    assert services.get_nodes(["/a/2", "/nope", "/a/1"])[1] is None
    assert services.get_nodes(["/a/2"])[0]["author"] == "bob"


def test_publish_many_query_count_does_not_grow_with_items(three_sites, django_assert_max_num_queries):
    items = [{"_id": f"/bulk/{i:04d}", "origin": "paris"} for i in range(300)]
    # SQLite caps parameters per statement (999), so its inserts come in batches of about a hundred rows.
    with django_assert_max_num_queries(10 if connection.vendor == "postgresql" else 30):
        assert all(services.publish_many(items, author="bob"))
    assert SiteState.objects.filter(site="tokyo").count() == 300


def test_pending_for_site_order_filters_and_claims(three_sites):
    publish("/q/low", origin="paris", time=100)
    publish("/q/high", origin="paris", sync_priority=5, time=900)
    publish("/q/from_tokyo", origin="tokyo", time=50)
    publish("/q/deleted", origin="paris", deleted=True, time=1)
    publish("/q/not_for_tokyo", origin="paris", syncEverywhere=False, sync_lima=True, time=200)
    publish("/q/only_tokyo", origin="paris", syncEverywhere=False, sync_tokyo=True, time=300)
    publish("/q/neg", origin="paris", sync_priority=-1, time=10)
    ids = [n["_id"] for n in services.pending_for_site("tokyo", 10)]
    assert ids == ["/q/high", "/q/low", "/q/only_tokyo", "/q/neg"]
    # Claimed: syncing_tokyo is set, so a second call gets nothing.
    assert services.get_node("/q/low")["syncing_tokyo"] > 0
    assert services.pending_for_site("tokyo", 10) == []
    assert services.pending_count("tokyo") == 0
    lima = [n["_id"] for n in services.pending_for_site("lima", 10)]
    assert lima == ["/q/high", "/q/from_tokyo", "/q/low", "/q/not_for_tokyo", "/q/neg"]


def test_pending_same_priority_orders_by_time_then_id(three_sites):
    services.publish_many([{"_id": f"/t/{n}", "origin": "paris"} for n in ("c", "a", "b")], author="x")
    services.update_node("/t/c", {"time": 1})
    assert [n["_id"] for n in services.pending_for_site("tokyo", 2)] == ["/t/c", "/t/a"]
    assert [n["_id"] for n in services.pending_for_site("tokyo", 5)] == ["/t/b"]


def test_batch_size_comes_from_the_volume(three_sites):
    services.publish_many([{"_id": f"/b/{i}", "origin": "paris"} for i in range(7)], author="x")
    services.update_volume("tokyo", {"syncAmountReception": 3})
    assert len(services.pending_for_site("tokyo")) == 3
    with override_settings(TRACKER_DEFAULT_BATCH=2):
        assert len(services.pending_for_site("lima")) == 2


def test_mark_synced_then_outdated_by_a_newer_time(three_sites):
    node = publish("/s/file")
    services.pending_for_site("tokyo")
    services.mark_synced("/s/file", "tokyo", node["time"] + 5)
    fresh = services.get_node("/s/file")
    assert fresh["synced_tokyo"] == node["time"] + 5 and "syncing_tokyo" not in fresh
    assert services.pending_count("tokyo") == 0
    services.update_node("/s/file", {"time": node["time"] + 10})
    assert services.site_status(services.get_node("/s/file"), "tokyo") == "outdated"
    assert [n["_id"] for n in services.pending_for_site("tokyo")] == ["/s/file"]
    with pytest.raises(services.NotFound):
        services.mark_synced("/s/missing", "tokyo")


def test_mark_error_backs_off_exponentially(three_sites):
    publish("/e/file")
    services.pending_for_site("tokyo")
    services.mark_error("/e/file", "tokyo", 23, "rsync: partial transfer")
    node = services.get_node("/e/file")
    assert node["syncError_tokyo"] == 23 and "syncing_tokyo" not in node
    assert node["syncErrorMessage_tokyo"] == "rsync: partial transfer"
    assert services.pending_for_site("tokyo") == []
    state = SiteState.objects.get(path="/e/file", site="tokyo")
    assert state.failures == 1
    # Pretend the attempt was 31 s ago: one failure waits 30 s.
    SiteState.objects.filter(pk=state.pk).update(last_attempt=state.last_attempt - 31_000)
    assert [n["_id"] for n in services.pending_for_site("tokyo")] == ["/e/file"]
    services.mark_error("/e/file", "tokyo", 23)
    state.refresh_from_db()
    assert state.failures == 2
    SiteState.objects.filter(pk=state.pk).update(last_attempt=state.last_attempt - 31_000)
    assert services.pending_for_site("tokyo") == []  # two failures wait 60 s
    SiteState.objects.filter(pk=state.pk).update(last_attempt=state.last_attempt - 61_000)
    assert len(services.pending_for_site("tokyo")) == 1
    with override_settings(TRACKER_RETRY_BASE_SECONDS=0):
        services.mark_error("/e/file", "tokyo", 12)
        assert len(services.pending_for_site("tokyo")) == 1
    services.mark_synced("/e/file", "tokyo")
    state.refresh_from_db()
    assert state.failures == 0 and state.error is None
    assert "syncError_tokyo" not in services.get_node("/e/file")


def test_stale_claims_come_back(three_sites):
    publish("/c/file")
    assert len(services.pending_for_site("tokyo")) == 1
    assert services.pending_for_site("tokyo") == []
    with override_settings(TRACKER_SYNCING_STALE_SECONDS=0):
        services.mark_syncing("/c/file", "tokyo", services.now_ms() - 10)
        assert len(services.pending_for_site("tokyo")) == 1


def test_release_claims(three_sites):
    publish("/r/1")
    publish("/r/2")
    assert len(services.pending_for_site("tokyo")) == 2
    assert services.release_claims(["/r/1", "/r/2", "/r/none"], "tokyo") == 2
    assert "syncing_tokyo" not in services.get_node("/r/1")
    assert len(services.pending_for_site("tokyo")) == 2


def test_bulk_marks(three_sites, django_assert_max_num_queries):
    services.publish_many([{"_id": f"/m/{i}", "origin": "paris"} for i in range(50)], author="x")
    paths = [f"/m/{i}" for i in range(50)]
    with django_assert_max_num_queries(8):
        assert services.mark_synced_many([*paths[:40], "/m/none"], "tokyo") == 40
    with django_assert_max_num_queries(8):
        assert services.mark_error_many([(p, 23, "boom") for p in paths[40:]], "tokyo") == 10
    assert services.pending_count("tokyo") == 0
    assert services.get_node("/m/45")["syncError_tokyo"] == 23
    assert services.mark_deleted_many(paths[:5], "lima") == 5
    assert services.get_node("/m/0")["deleted"] is True
    assert services.pending_count("lima") == 45


def test_mark_modified_makes_other_sites_outdated(three_sites):
    node = publish("/mod/file")
    services.mark_synced("/mod/file", "tokyo", node["time"])
    services.mark_synced("/mod/file", "lima", node["time"])
    assert services.pending_count("tokyo") == 0
    services.mark_modified("/mod/file", "tokyo", file_mtime=1_700_000_000_000, file_size=42)
    fresh = services.get_node("/mod/file")
    assert fresh["file_size"] == 42 and fresh["modified_tokyo"] >= node["time"]
    assert fresh["origin"] == "tokyo"
    assert services.pending_count("tokyo") == 0
    assert {n["_id"] for n in services.pending_for_site("lima")} == {"/mod/file"}
    assert {n["_id"] for n in services.pending_for_site("paris")} == {"/mod/file"}


def test_global_sync_everywhere_false_means_opt_in(three_sites):
    publish("/g/default")
    publish("/g/opted", sync_tokyo=True)
    services.set_global_parameters({"syncEverywhere": False})
    assert [n["_id"] for n in services.pending_for_site("tokyo")] == ["/g/opted"]
    assert services.global_parameters()["sleepBetweenScans"] == 60


def test_emission_for_site(three_sites):
    publish("/em/from_paris", origin="paris")
    publish("/em/from_lima", origin="lima")
    out = services.emission_for_site("paris", "tokyo")
    assert [n["_id"] for n in out] == ["/em/from_paris"]
    assert services.get_node("/em/from_paris")["syncing_tokyo"]
    assert [n["_id"] for n in services.pending_for_site("tokyo")] == ["/em/from_lima"]


def test_volumes_sites_and_new_site_backfill(three_sites):
    publish("/v/file")
    assert services.sites() == ["lima", "paris", "tokyo"]
    services.create_volume("oslo", url="ssh://oslo/p/", node_id="sit/studio/oslo")
    assert services.get_volume("oslo")["_id"] == "sit/studio/oslo"
    assert services.get_volume("sit/studio/oslo")["name"] == "oslo"
    assert [n["_id"] for n in services.pending_for_site("oslo")] == ["/v/file"]
    vol = services.update_volume("oslo", {"agentStatus": "on", "url": None})
    assert vol["agentStatus"] == "on"
    with pytest.raises(services.AlreadyExists):
        services.create_volume("oslo")
    with pytest.raises(services.NotFound):
        services.update_volume("nowhere", {})
    assert services.create_volume("bergen", **{"_id": "sit/studio/bergen"})["_id"] == "sit/studio/bergen"
    services.delete_nodes(["sit/studio/oslo"])
    assert "oslo" not in services.sites()
    assert not SiteState.objects.filter(site="oslo").exists()


def test_iter_file_nodes_streams_by_prefix(three_sites):
    services.publish_many([{"_id": f"/it/{i:03d}", "origin": "paris"} for i in range(25)], author="x")
    publish("/other/x")
    got = [n["_id"] for n in services.iter_file_nodes("/it/", batch_size=7)]
    assert sorted(got) == [f"/it/{i:03d}" for i in range(25)]
    assert len(list(services.iter_file_nodes())) == 26


def test_update_node_removes_null_keys_and_keeps_state(three_sites):
    publish("/u/file", extra=1)
    node = services.update_node("/u/file", {"extra": None, "new": "v", "synced_tokyo": 10**15})
    assert "extra" not in node and node["new"] == "v"
    assert SiteState.objects.get(path="/u/file", site="tokyo").active is False
    with pytest.raises(services.NotFound):
        services.update_node("/nope", {"a": 1})


def test_dashboard_cards_count_files(three_sites):
    services.publish_many([{"_id": f"/d/{i}", "origin": "paris"} for i in range(3)], author="x")
    (card,) = services.dashboard_cards()
    assert card["count"] == 3 and card["title"] == "Tracked files"


def test_user_nodes_follow_django_users(make_user):
    user = make_user("carol", "editor")
    node = services.get_node("@carol")
    assert node["class"] == "editor" and node["username"] == "carol"
    assert "password" not in node
    user.delete()
    assert services.get_node("@carol") is None


@override_settings(TRACKER_AUTHOR_MODE=True)
def test_update_node_with_author_applies_author_mode_only(three_sites):
    publish("/am/file")  # author alice
    assert services.update_node("/am/file", {"time": 5}, author="alice")["time"] == 5
    with pytest.raises(services.Forbidden):
        services.update_node("/am/file", {"x": 1}, author="mallory")
