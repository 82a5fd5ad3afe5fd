"""hosts.services.import_rows: the semantics of update_host/set_account, in bulk, on both databases."""

from __future__ import annotations

import pytest

from hosts import services
from hosts.importing import Normaliser
from hosts.models import Host
from hosts.normalize import normalize_hostname, normalize_labels
from hosts.plugins.sources import read_csv

pytestmark = pytest.mark.django_db

HOSTNAMES = ["Web1.Example.COM", " db1 ", "", None, "bad name", "x" * 260, "a:b@c", "ÄÖ-host", True, 42, "-x", "_y"]
LABELS = [
    {"OS Name": " linux ", "Site": "dc1"},
    {"a": 1, "b": None, "c": [" x ", {"k": " v "}], "d": True},
    {"": "dropped", None: "dropped", "  ": "dropped", "A": 1, "a": 2},
    {"Key With Spaces": "v", "x y": " z "},
    {},
]


@pytest.mark.parametrize(
    "settings_override", [{}, {"HOSTS_LOWERCASE_HOSTNAMES": False, "HOSTS_LABEL_REPLACERS": [(" ", "-")]}]
)
def test_the_bulk_normaliser_agrees_with_the_host_api(settings, settings_override):
    for key, value in settings_override.items():
        setattr(settings, key, value)
    normaliser = Normaliser()
    for name in HOSTNAMES:
        assert normaliser.hostname(name) == normalize_hostname(name), name
    for labels in LABELS * 2:  # twice: the memoised plan must give the same answer
        assert normaliser.labels(labels) == normalize_labels(labels), labels


def test_bulk_rows_are_stored_like_the_host_api_stores_them(make_account):
    account = make_account("a")
    config = services.get_account("a")
    services.import_rows(account, [("bulk1", {"OS Name": " linux ", "n": 1, "tags": ["x"]})])
    api_host = Host.get_host("api1")
    api_host.set_account(account_dict=config)
    api_host.update_host({"OS Name": " linux ", "n": 1, "tags": ["x"]})
    api_host.save()
    bulk, api = Host.objects.get(hostname="bulk1"), Host.objects.get(hostname="api1")
    for field in (
        "labels",
        "inventory",
        "account_id",
        "is_object",
        "object_type",
        "locked",
        "disabled",
        "cache",
        "log",
    ):
        assert getattr(bulk, field) == getattr(api, field), field
    assert bulk.last_import_seen == bulk.last_import_sync == bulk.created
    assert bulk.stale is False
    # and the API sees the bulk host as unchanged, with the same change detection
    again = Host.get_host("bulk1")
    assert again.update_host({"os name": "linux", "n": 1, "tags": ["x"]}) is False


def test_unchanged_with_other_key_order_and_unicode_is_unchanged(make_account):
    account = make_account("a")
    Host.objects.create(hostname="h1", account=account, labels={"site": "Köln", "os": "linux"})
    result = services.import_rows(account, [("h1", {"os": "linux", "site": "Köln"}), ("h2", {"x": "ü"})])
    assert (result.created, result.updated, result.unchanged) == (1, 0, 1)
    result = services.import_rows(account, [("h1", {"os": "linux", "site": "Köln"}), ("h2", {"x": "ü"})])
    assert (result.created, result.updated, result.unchanged) == (0, 0, 2)


def test_seen_and_sync_timestamps(make_account):
    account = make_account("a")
    services.import_rows(account, [("h1", {"a": "1"}), ("h2", {"a": "2"})])
    before = {host.hostname: host for host in Host.objects.all()}
    Host.objects.filter(hostname="h1").update(cache={"rules_version": 1, "x": {}})
    services.import_rows(account, [("h1", {"a": "1"}), ("h2", {"a": "changed"})])
    h1, h2 = Host.objects.get(hostname="h1"), Host.objects.get(hostname="h2")
    assert h1.last_import_seen > before["h1"].last_import_seen
    assert h1.last_import_sync == before["h1"].last_import_sync and h1.cache == {"rules_version": 1, "x": {}}
    assert h2.last_import_sync > before["h2"].last_import_sync and h2.cache == {}
    assert h1.last_import_seen == h2.last_import_seen  # one run, one time


def test_a_master_account_takes_hosts_from_another_master_and_logs_it(make_account):
    first, second = make_account("m1", is_master=True), make_account("m2", is_master=True)
    Host.objects.create(hostname="h1", account=first, labels={"a": "1"})
    result = services.import_rows(second, [("h1", {"a": "1"})])
    assert result.updated == 1
    host = Host.objects.get(hostname="h1")
    assert host.account == second and host.log[0]["message"] == "account changed from m1 to m2"


def test_on_conflict_fail_rolls_back_the_whole_run(make_account, settings):
    settings.HOSTS_IMPORT_BATCH_SIZE = 1
    master, account = make_account("m", is_master=True), make_account("a")
    Host.objects.create(hostname="zz", account=master, labels={})
    with pytest.raises(services.OwnershipError, match="host 'zz' is owned by master account 'm'"):
        services.import_rows(account, [("a1", {}), ("a2", {}), ("zz", {})], on_conflict="fail")
    assert list(Host.objects.values_list("hostname", flat=True)) == ["zz"]


def test_invalid_rows_abort_before_anything_is_written(make_account):
    account = make_account("a")
    with pytest.raises(services.ImportRowsError, match="row 2: invalid hostname 'bad name'"):
        services.import_rows(account, [("ok1", {}), ("bad name", {})])
    with pytest.raises(services.ImportRowsError, match="row 1 \\(ok1\\): labels must be an object, got list"):
        services.import_rows(account, [("ok1", [1])])
    with pytest.raises(services.ImportRowsError, match="row 1: empty hostname"):
        services.import_rows(account, [("", {})], strict=True)
    assert not Host.objects.exists()


def test_duplicates_and_empty_names_are_skipped(make_account):
    account = make_account("a")
    result = services.import_rows(account, [("h1", {"v": "1"}), ("", {}), ("H1", {"v": "2"})])
    assert (result.created, result.skipped) == (1, 2)
    assert Host.objects.get(hostname="h1").labels == {"v": "2"}


def test_rows_normalised_while_read_import_like_plain_rows(tmp_path, make_account):
    account = make_account("a")
    path = tmp_path / "hosts.csv"
    path.write_text("host,OS Name\nWeb1, linux \n,x\ndb1,bsd\nweb1,bsd\n,y\n")
    outcomes = []
    for rows in (read_csv(path), read_csv(path, normalise=True)):
        result = services.import_rows(account, rows)
        outcomes.append((result.details(), dict(Host.objects.values_list("hostname", "labels"))))
        Host.objects.all().delete()
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0][:4] == [("created", 2), ("updated", 0), ("unchanged", 0), ("skipped", 3)]
    with pytest.raises(services.ImportRowsError, match="row 2: empty hostname"):
        services.import_rows(account, read_csv(path, normalise=True), strict=True)


def test_rows_normalised_under_other_rules_are_normalised_again(tmp_path, make_account, settings):
    path = tmp_path / "hosts.csv"
    path.write_text("host,os\nweb-1,linux\nweb-1,bsd\n")
    rows = read_csv(path, normalise=True)
    settings.HOSTS_HOSTNAME_PATTERN = r"^[a-z0-9]+$"  # stricter than when the rows were read
    with pytest.raises(services.ImportRowsError, match="row 1: invalid hostname 'web-1'"):
        services.import_rows(make_account("a"), rows)
    settings.HOSTS_HOSTNAME_PATTERN = r"^[a-z0-9-]+$"
    result = services.import_rows("a", rows)
    assert (result.created, result.skipped) == (1, 1)


def test_stale_hosts_come_back_when_seen_again(make_account):
    account = make_account("a")
    services.import_rows(account, [("h1", {}), ("h2", {})])
    assert services.import_rows(account, [("h1", {})]).stale == 1
    assert Host.objects.get(hostname="h2").stale
    result = services.import_rows(account, [("h1", {}), ("h2", {})])
    assert (result.unchanged, result.stale) == (2, 0)
    assert not Host.objects.filter(stale=True).exists()


def test_dry_run_counts_like_a_real_run_and_writes_nothing(make_account):
    account = make_account("a")
    services.import_rows(account, [("h1", {"a": "1"}), ("h2", {})])
    rows = [("h1", {"a": "2"}), ("h3", {})]
    dry = services.import_rows(account, rows, dry_run=True)
    assert not Host.objects.filter(hostname="h3").exists() and Host.objects.get(hostname="h1").labels == {"a": "1"}
    real = services.import_rows(account, rows)
    assert dry.details()[:-1] == real.details()


def test_query_count_does_not_grow_with_the_number_of_hosts(make_account, settings, django_assert_max_num_queries):
    settings.HOSTS_IMPORT_BATCH_SIZE = 500
    account = make_account("a")
    rows = [(f"h{index:04d}", {"i": str(index)}) for index in range(1500)]
    from django.db import connection

    # 3 batches x (select + insert) + account, stale, savepoints; SQLite: + 5 per batch for the change log's
    # one row per batch (its insert trigger set aside and put back, syncsite.changes.bulk_insert)
    with django_assert_max_num_queries(20 if connection.vendor == "postgresql" else 35):
        assert services.import_rows(account, rows).created == 1500
    with django_assert_max_num_queries(5):  # unchanged: count, one read, one upsert (+ savepoint), no stale query
        assert services.import_rows(account, rows).unchanged == 1500
    changed = [(name, {"i": "x"}) for name, _ in rows]
    with django_assert_max_num_queries(25):
        assert services.import_rows(account, changed).updated == 1500


def test_inventory_rows_replace_one_section(make_account):
    Host.objects.create(hostname="h1", labels={"a": "1"}, inventory={"hw__old": 1, "sw__x": 2})
    result = services.import_rows(None, [("h1", {"serial": " S1 "}), ("nope", {})], inventory_key="hw")
    assert (result.updated, result.skipped) == (1, 1)
    assert Host.objects.get(hostname="h1").inventory == {"sw__x": 2, "hw__serial": "S1"}
    assert services.import_rows(None, [("h1", {"serial": "S1"})], inventory_key="hw").unchanged == 1
