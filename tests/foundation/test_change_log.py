"""The trigger-written change log (syncsite.changes) in-process, on the suite's database (SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q

from syncsite import changes
from tracker import services
from tracker.models import Node

pytestmark = pytest.mark.django_db(transaction=True)


def test_every_write_path_is_captured_labelled_and_read_back_in_few_queries(django_assert_max_num_queries):
    start = changes.current()
    services.publish_many([{"_id": f"/c/{i}", "origin": "paris"} for i in range(30)], author="ann")
    with connection.cursor() as cursor:  # plain SQL: no signal, still in the log
        cursor.execute("UPDATE tracker_node SET sync_priority = 3 WHERE node_id LIKE %s", ["/c/1%"])
    Node.objects.filter(node_id="/c/2").delete()
    with changes.context(origin="https://elsewhere/sync/tracker"):
        Node.objects.filter(node_id="/c/3").update(sync_priority=9)
    upto = changes.current()
    with django_assert_max_num_queries(2):
        found = changes.changed("tracker.node", start, upto)
    ids = dict(Node.objects.values_list("node_id", "pk"))
    assert str(ids["/c/10"]) in found and found[str(ids["/c/10"])] is None
    assert ["/c/2"] in found.values()  # the deletion, with its natural key
    local = changes.changed("tracker.node", start, upto, local_only=True)
    assert str(ids["/c/3"]) in found and str(ids["/c/3"]) in local  # published here before the pulled update
    rows, cursor = changes.events(["tracker.node"], start, limit=1000)
    ops = [row.op for row in rows]
    assert ops[0] == "publish" and "update" in ops and "delete" in ops and cursor == upto
    assert rows[-1].origin == "https://elsewhere/sync/tracker"
    assert changes.changed("tracker.node", upto, changes.current()) == {}


def test_pruned_cursors_expire_and_capture_can_be_paused(django_assert_max_num_queries):
    old = changes.current()
    services.publish("/p/one", origin="paris", author="ann")
    changes.prune(timedelta(seconds=-1))
    assert changes.expired(old) and not changes.expired(changes.current())
    assert changes.current().last_id >= changes.horizon()
    with pytest.raises(changes.InvalidCursor):
        changes.parse("17")
    specs = changes.pause()
    try:
        before = changes.current()
        services.publish("/p/two", origin="paris", author="ann")
        assert changes.changed("tracker.node", before, changes.current()) == {}
    finally:
        changes.resume()
    assert {table for table, _, _ in specs} >= {"tracker_node", "tracker_sitestate", "hosts_host"}
    before = changes.current()
    services.publish("/p/three", origin="paris", author="ann")
    assert changes.changed("tracker.node", before, changes.current())


def test_the_hosts_bulk_import_is_logged_as_one_row_per_batch(tmp_path):
    from hosts.models import Account, Host
    from hosts.plugins.importers import run_plugin
    from syncsite.models import Change

    path = tmp_path / "hosts.csv"
    path.write_text("host,role\n" + "".join(f"h{i}.example.com,web\n" for i in range(50)))
    Account.objects.create(name="csv", type="csv", address=str(path))
    start = changes.current()
    assert run_plugin("import-csv", "csv").created == 50
    found = changes.changed("hosts.host", start, changes.current())
    assert set(found) == {str(pk) for pk in Host.objects.values_list("pk", flat=True)}
    assert Change.objects.filter(id__gt=start.last_id, model="hosts.host").count() <= 2  # not one per host
    assert {table for table, _, _ in changes.captured()} >= {"hosts_host"}  # the trigger is back
    middle = changes.current()
    Host.objects.filter(hostname="h1.example.com").update(disabled=True)  # and still records other writes
    h1 = str(Host.objects.get(hostname="h1.example.com").pk)
    assert changes.changed("hosts.host", middle, changes.current()) == {h1: None}


def test_a_bulk_publish_logs_exactly_its_rows_with_their_keys_and_scopes():
    """SQLite's publish sets the row triggers aside and logs one row per table, its ids told by their range
    (PostgreSQL's statement triggers log it anyway): the log must name exactly the rows written, keys included."""
    from syncsite.models import Change
    from tracker.models import SiteState

    services.create_volume("tokyo", url="ssh://sync@tokyo.example/p/")
    services.publish("/x/before", origin="paris", author="ann")  # ids to skip over
    Node.objects.filter(node_id="/x/before").delete()  # and a gap in them
    start = changes.current()
    services.publish_many(
        [{"_id": f"/b/{i}", "origin": "paris"} for i in range(60)], author="ann"
    )  # >= BULK_INSERT_MIN_ROWS
    upto = changes.current()
    written = Node.objects.filter(Q(node_id__startswith="/b/") | Q(parent__startswith="/b/"))  # files and children
    nodes = {str(pk): node_id for pk, node_id in written.values_list("pk", "node_id")}
    assert set(changes.changed("tracker.node", start, upto)) == set(nodes) and len(nodes) == 120  # files and children
    states = SiteState.objects.filter(path__startswith="/b/")
    assert set(changes.changed("tracker.sitestate", start, upto)) == {
        str(pk) for pk in states.values_list("pk", flat=True)
    }
    entries = [e for c in Change.objects.filter(start.after(), model="tracker.node") for e in c.entries()]
    assert {str(pk): key for pk, key, _ in entries} == {pk: [node_id] for pk, node_id in nodes.items()}
    assert all("ann" in scope for _, _, scope in entries)  # the author scope author mode filters by
    rows, _ = changes.events(["tracker.node"], start, limit=100)
    assert {row.op for row in rows} == {"publish"}


def test_bulk_insert_tells_the_new_ids_only_when_the_id_range_proves_them():
    from django.db import transaction

    from hosts.models import Host

    def insert(*names: str):
        return lambda: Host.objects.bulk_create([Host(hostname=name) for name in names])

    many = changes.BULK_INSERT_MIN_ROWS
    with transaction.atomic():
        names = [f"a{n:03d}" for n in range(many)]
        ids = changes.bulk_insert(connection, Host, insert(*names), many, natural_key=["hostname"])
        if connection.vendor == "sqlite":
            expected = Host.objects.filter(hostname__in=names).order_by("hostname")
            assert ids == list(expected.values_list("pk", flat=True))
        else:
            assert ids is None  # PostgreSQL's sequences promise no such range: the caller reads the rows back
        fewer = [f"b{n:03d}" for n in range(many)]
        assert changes.bulk_insert(connection, Host, insert(*fewer), many + 1) is None  # fewer rows than said
        assert changes.bulk_insert(connection, Host, insert("d1"), 1) is None  # a few rows: row triggers
    start = changes.current()
    with transaction.atomic():  # enough rows to set the trigger aside on SQLite: one log row, keys from SQL
        names = [f"c{n:03d}" for n in range(changes.BULK_INSERT_MIN_ROWS)]
        changes.bulk_insert(connection, Host, insert(*names), len(names), natural_key=["hostname"])
    logged = changes.changed("hosts.host", start, changes.current())
    assert set(logged) == {str(pk) for pk in Host.objects.filter(hostname__in=names).values_list("pk", flat=True)}
    from syncsite.models import Change

    keys = [
        key for change in Change.objects.filter(start.after(), model="hosts.host") for _, key, _ in change.entries()
    ]
    assert sorted(keys) == [[name] for name in names]


def test_every_captured_table_keeps_its_three_triggers_after_all_migrations():
    """A migration that rebuilds a table (SQLite's way to alter one) drops its triggers: each must put them
    back, or that table's writes silently leave the change log (and replication and the change feed)."""
    import ast
    from pathlib import Path

    from django.apps import apps

    declared = set()
    for app in ("hosts", "tracker"):
        for path in Path(apps.get_app_config(app).path, "migrations").glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "CaptureChanges":
                    declared.add(apps.get_model(app, node.args[0].value)._meta.db_table)
    triggers: dict[str, set[str]] = {}
    for table, trigger, _ in changes.captured():
        triggers.setdefault(table, set()).add(trigger.rsplit("_", 1)[1])
    assert {"tracker_node", "tracker_sitestate", "hosts_host"} <= declared
    assert {table: triggers.get(table) for table in declared} == {t: {"insert", "update", "delete"} for t in declared}
