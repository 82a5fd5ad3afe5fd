"""Site states have no database foreign key (SiteState.node): deletions and replication keep them whole."""

from __future__ import annotations

import pytest

from tracker import replication, services
from tracker.models import Node, SiteState

pytestmark = pytest.mark.django_db


class _Context:
    """The part of a synctools pull context the refusal hooks read: nothing refused yet."""

    def refused(self, model):
        return set()


def test_deleting_nodes_any_way_deletes_their_states():
    for site in ("paris", "tokyo", "lima"):
        services.create_volume(site, url=f"/srv/{site}/")
    services.publish_many([{"_id": f"/i/{n}.exr", "origin": "paris"} for n in range(3)], author="ann")
    assert SiteState.objects.count() == 6
    Node.objects.filter(node_id="/i/0.exr").delete()  # the ORM (admin, replication's deletions)
    services.delete_nodes(["/i/1.exr"], services.Actor("ann", "admin"))  # the service
    assert set(SiteState.objects.values_list("path", flat=True)) == {"/i/2.exr"}


def test_a_pulled_state_whose_node_is_not_here_is_refused(settings):
    settings.TRACKER_LOCAL_SITES = []
    services.create_volume("tokyo", url="/srv/tokyo/")
    services.publish("/i/here.exr", origin="paris", author="ann")
    here = Node.objects.get(node_id="/i/here.exr")
    missing = Node.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1000
    rows = [(SiteState(node_id=here.pk, site="tokyo", path=here.node_id), None),
            (SiteState(node_id=missing, site="tokyo", path="/i/gone.exr"), None)]  # fmt: skip
    assert replication.state_refusals(rows, _Context()) == {1}


def test_the_daily_sweep_deletes_states_whose_node_is_gone_in_one_statement(django_assert_max_num_queries):
    from django.db import connection

    from tracker import tasks

    for site in ("paris", "tokyo"):
        services.create_volume(site, url=f"/srv/{site}/")
    services.publish_many([{"_id": f"/o/{n}.exr", "origin": "paris"} for n in range(3)], author="ann")
    gone = Node.objects.get(node_id="/o/0.exr").pk
    with connection.cursor() as cursor:  # a node deleted behind the tracker's back: its state stays
        cursor.execute("DELETE FROM tracker_node WHERE id = %s", [gone])
    assert SiteState.objects.filter(node_id=gone).count() == 1
    with django_assert_max_num_queries(2):
        assert tasks.sweep_orphan_states() == 1
    assert set(SiteState.objects.values_list("path", flat=True)) == {"/o/1.exr", "/o/2.exr"}
    assert tasks.sweep_orphan_states() == 0
