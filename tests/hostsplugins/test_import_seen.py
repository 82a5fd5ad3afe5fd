"""`last_import_seen` of unchanged hosts lives in HostSeen: a re-import does not rewrite the host rows."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from hosts import services
from hosts.models import Host, HostSeen


def _rows(*names: str) -> list[tuple[str, dict[str, str]]]:
    return [(name, {"os": "linux", "site": name[-1]}) for name in names]


def test_unchanged_reimport_marks_hosts_seen_without_writing_host_rows(make_account):
    account = make_account("a")
    services.import_rows(account, _rows("h1", "h2"))
    first = Host.objects.get(hostname="h1").last_import_seen
    with CaptureQueriesContext(connection) as queries:
        result = services.import_rows(account, _rows("h1", "h2"))
    assert result.unchanged == 2
    table = Host._meta.db_table
    assert not [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("UPDATE") and table in q["sql"]]
    h1 = Host.objects.get(hostname="h1")
    mark = HostSeen.objects.get(host=h1)
    assert h1.last_import_seen == mark.seen > first
    assert h1.last_import_seen_row == first  # the wide row kept its value
    assert h1.last_import_sync == first


def test_hosts_carry_their_mark_from_the_query_that_loaded_them(make_account, django_assert_num_queries):
    account = make_account("a")
    services.import_rows(account, _rows("h1", "h2", "h3"))
    services.import_rows(account, _rows("h1", "h2", "h3"))
    with django_assert_num_queries(1):
        hosts = list(Host.objects.all())
        seen = {host.last_import_seen for host in hosts}
    assert len(seen) == 1 and None not in seen
    services.import_rows(account, _rows("h1", "h2", "h3"))
    assert hosts[0].last_import_seen in seen  # the value at load time, not re-read
    assert Host.objects.get(pk=hosts[0].pk).last_import_seen > hosts[0].last_import_seen


def test_update_host_after_a_mark_and_a_mark_after_update_host(make_account):
    account = make_account("a")
    services.import_rows(account, _rows("h1"))
    services.import_rows(account, _rows("h1"))
    marked = Host.objects.get(hostname="h1").last_import_seen
    host = Host.get_host("h1")
    assert host.update_host({"os": "linux", "site": "1"}) is False
    host.save()
    saved = Host.objects.get(hostname="h1").last_import_seen
    assert saved > marked and saved == host.last_import_seen
    services.import_rows(account, _rows("h1"))
    assert Host.objects.get(hostname="h1").last_import_seen > saved


def test_stale_detection_across_unchanged_runs(make_account):
    account = make_account("a")
    services.import_rows(account, _rows("h1", "h2", "h3"))
    assert services.import_rows(account, _rows("h1", "h2")).stale == 1
    assert set(Host.objects.filter(stale=True).values_list("hostname", flat=True)) == {"h3"}
    result = services.import_rows(account, _rows("h1"))
    assert (result.unchanged, result.stale) == (1, 2)
    assert set(Host.objects.filter(stale=True).values_list("hostname", flat=True)) == {"h2", "h3"}
    result = services.import_rows(account, _rows("h1", "h3"))
    assert (result.unchanged, result.stale) == (2, 1)
    assert set(Host.objects.filter(stale=True).values_list("hostname", flat=True)) == {"h2"}


def test_a_mark_of_another_account_run_does_not_count_as_seen(make_account):
    a, b = make_account("a"), make_account("b")
    services.import_rows(a, _rows("h1", "h2"))
    services.import_rows(a, _rows("h1", "h2"))  # both marked in HostSeen
    services.import_rows(b, _rows("x1"))
    services.import_rows(b, _rows("x1"))
    assert not Host.objects.filter(stale=True).exists()
    assert services.import_rows(a, _rows("h1")).stale == 1
    assert list(Host.objects.filter(stale=True).values_list("hostname", flat=True)) == ["h2"]


def test_deleting_a_host_deletes_its_mark(make_account):
    account = make_account("a")
    services.import_rows(account, _rows("h1", "h2"))
    services.import_rows(account, _rows("h1", "h2"))
    assert HostSeen.objects.count() == 2
    services.delete_host("h1")
    assert list(HostSeen.objects.values_list("host__hostname", flat=True)) == ["h2"]


def test_api_shows_and_orders_by_the_effective_last_import_seen(make_account, token_client):
    account = make_account("a")
    services.import_rows(account, _rows("h1", "h2"))
    services.import_rows(account, _rows("h2"))  # h2: marked later; h1: stale
    body = token_client.get("/api/v1/hosts/?ordering=-last_import_seen").json()
    names = [item["hostname"] for item in body["results"]]
    assert names == ["h2", "h1"]
    h2 = Host.objects.get(hostname="h2")
    assert body["results"][0]["last_import_seen"].replace("Z", "+00:00") == h2.last_import_seen.isoformat()
    detail = token_client.get("/api/v1/hosts/h2/").json()
    assert detail["last_import_seen"] == body["results"][0]["last_import_seen"]


def test_stale_hosts_deleted_by_the_account_policy_lose_their_marks(make_account):
    account = make_account("a", delete_stale="true")
    services.import_rows(account, _rows("h1", "h2"))
    services.import_rows(account, _rows("h1", "h2"))
    result = services.import_rows(account, _rows("h1"))
    assert (result.unchanged, result.stale, result.deleted) == (1, 1, 1)
    assert list(Host.objects.values_list("hostname", flat=True)) == ["h1"]
    assert list(HostSeen.objects.values_list("host__hostname", flat=True)) == ["h1"]
