"""`publish/` in bulk: on PostgreSQL one COPY and one set-based merge; the answers, child nodes and state rows
are the same as the row-by-row rules give (checked on both databases)."""

from __future__ import annotations

import pytest

from tracker import services
from tracker.models import Node, SiteState
from tracker.services.columns import _state_for

pytestmark = pytest.mark.django_db

STATE_FIELDS = ["site", "path", "priority", "time", "active", "wanted", "synced", "syncing", "error", "last_attempt"]


def test_bulk_publish_answers_children_and_states(three_sites, damas, django_assert_max_num_queries):
    agent = services.Actor("robot", "admin", agent=True)
    services.publish_nodes([{"_id": "/b/old.exr", "origin": "paris"}], agent)
    items = [
        {"_id": "/b/plain.exr", "origin": "paris", "comment": "first"},
        {"_id": "/b/old.exr", "origin": "paris"},  # already tracked
        {"_id": "/b/plain.exr", "origin": "lima"},  # twice in one call
        {"_id": "/b/filtered.exr", "origin": "lima", "syncEverywhere": False, "sync_tokyo": True},
        {"_id": "/b/delivered.exr", "origin": "tokyo", "synced_paris": 9_999_999_999_999, "sync_priority": 7},
        {"_id": "/b/folder/", "origin": "paris"},
        {"_id": "/b/bad", "origin": ""},  # refused before any SQL
    ]
    with django_assert_max_num_queries(12):
        results = services.publish_nodes(items, agent)
    kinds = [type(r).__name__ if isinstance(r, services.TrackerError) else "ok" for r in results]
    assert kinds == ["ok", "AlreadyExists", "AlreadyExists", "ok", "ok", "ok", "InvalidInput"]
    assert results[0]["comment"] == "first" and results[0]["author"] == "robot" and results[0]["time"] > 0

    published = ["/b/plain.exr", "/b/filtered.exr", "/b/delivered.exr", "/b/folder/"]
    for node_id in published:
        node = Node.objects.get(node_id=node_id)
        child = Node.objects.get(parent=node_id)
        assert child.kind == "child" and len(child.node_id) == 24
        expected = {k: node.data.get(k) for k in ("origin", "author", "time")}
        assert child.data == {"#parent": node_id, "comment": node.data.get("comment", ""), **expected}
        assert child.authors == node.authors and child.origin == node.origin and child.time == node.time
        # The state rows are what the row-by-row rules make of the node.
        stored = {s.site: s for s in SiteState.objects.filter(node=node)}
        wanted = {s: _state_for(node, s) for s in three_sites if s != node.origin}
        assert set(stored) == set(wanted), node_id
        for site, row in wanted.items():
            got = stored[site]
            assert [getattr(got, f) for f in STATE_FIELDS] == [getattr(row, f) for f in STATE_FIELDS], (node_id, site)
    assert services.pending_count("tokyo") >= 2
    delivered = SiteState.objects.get(node__node_id="/b/delivered.exr", site="paris")
    assert not delivered.active and delivered.priority == 7
    assert SiteState.objects.get(node__node_id="/b/filtered.exr", site="paris").wanted is False
    assert not Node.objects.filter(node_id="/b/bad").exists()


def test_publish_twice_in_one_transaction(three_sites):
    """The staging table is emptied by the merge itself: a second publish in the same transaction is clean."""
    from django.db import transaction

    actor = services.Actor("ann", "user")
    with transaction.atomic():
        first = services.publish_nodes([{"_id": "/t/a", "origin": "paris"}], actor)
        second = services.publish_nodes([{"_id": "/t/b", "origin": "paris"}, {"_id": "/t/a", "origin": "x"}], actor)
    assert first[0]["_id"] == "/t/a" and second[0]["_id"] == "/t/b"
    assert isinstance(second[1], services.AlreadyExists)
    assert Node.objects.filter(node_id__startswith="/t/", kind="file").count() == 2
    assert SiteState.objects.filter(node__node_id__startswith="/t/").count() == 4


def test_publish_permission_and_number_checks_stay(damas):
    guest = damas("gus", "guest")
    assert guest.publish({"_id": "/p/a", "origin": "paris"})[0] == 403
    user = damas("ann", "user")
    status, body = user.publish([{"_id": "/p/a", "origin": "paris", "synced_paris": 1}])
    assert status == 403 and "sync keys" in body["detail"]
    status, body = user.call("POST", "publish/", raw='[{"_id": "/p/b", "origin": "paris", "n": 1e999}]')
    assert status == 400
    assert not Node.objects.filter(node_id__startswith="/p/").exists()
