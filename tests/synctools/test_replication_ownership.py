"""Replication keeps each site's own data: rows are matched by natural key (or the map of pulled rows), a full
reply cleans only what came from its source, and conflicts follow the documented rule (docs/synctools.md)."""

from __future__ import annotations

import pytest
import requests
from django.core import serializers

from hosts import services as hosts_services
from hosts.models import Account, Host, LogEntry
from synctools.client import Client
from synctools.models import PulledRow, SyncState
from tests.synctools import scenarios
from tests.synctools.testapp.models import Author, Book
from tracker import services as tracker_services
from tracker.models import Node, SiteState

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SOURCE_FILES = [f"/projects/shot{i}.exr" for i in range(4)]


def client_for(source) -> Client:
    return Client(api_token=source.token, api_url=source.url("sync/"))


def comments_of(path: str) -> list[str]:
    return sorted(n.data.get("comment", "") for n in Node.objects.filter(parent=path))


def test_a_pull_keeps_this_sites_own_nodes_and_cleans_only_the_sources(source, settings):
    settings.TRACKER_LOCAL_SITES = ["tokyo"]
    # This site's own files, made before any pull: their database ids are the same numbers as the source's rows.
    for index in range(3):
        tracker_services.publish(f"/tokyo/local{index}.exr", origin="tokyo", author="bob", comment="mine")
    own = {n.node_id: n.data for n in Node.objects.all()}
    source.run("seed_site_data")
    client = client_for(source)

    client.sync("tracker", clean=True)

    assert {node_id: Node.objects.get(node_id=node_id).data for node_id in own} == own
    assert set(SOURCE_FILES) <= set(Node.objects.values_list("node_id", flat=True))
    assert Node.objects.get(node_id="/projects/shot0.exr").data["synced_tokyo"]
    assert SiteState.objects.get(node__node_id="/projects/shot1.exr", site="tokyo").error == 23
    assert comments_of("/projects/shot2.exr") == ["v1"]

    again = client.sync("tracker", clean=True)  # nothing changed: nothing deleted, nothing doubled
    assert again.deleted == 0
    assert Node.objects.filter(parent="/projects/shot2.exr").count() == 1

    source.run("tracker_delete", ids=["/projects/shot3.exr"])
    gone = client.sync("tracker", clean=True)
    assert not Node.objects.filter(node_id="/projects/shot3.exr").exists()
    assert gone.deleted == 2  # the file and its state at tokyo
    assert {node_id: Node.objects.get(node_id=node_id).data for node_id in own} == own


def test_a_file_whose_origin_is_this_site_wins_and_its_comments_and_states_follow(source, settings):
    settings.TRACKER_LOCAL_SITES = ["tokyo"]
    tracker_services.publish("/shared/mine.exr", origin="tokyo", author="bob", comment="local copy")
    tracker_services.publish("/shared/theirs.exr", origin="paris", author="bob", comment="local guess")
    mine = Node.objects.get(node_id="/shared/mine.exr").data
    source.run("seed_site_data")
    source.run("tracker_publish", path="/shared/mine.exr", origin="paris", comment="source copy")
    source.run("tracker_publish", path="/shared/theirs.exr", origin="paris", comment="v1")

    client_for(source).sync("tracker", clean=True)

    assert Node.objects.get(node_id="/shared/mine.exr").data == mine  # origin tokyo here: the file's origin wins
    assert comments_of("/shared/mine.exr") == ["local copy"]  # the source's comment follows its refused node
    assert not SiteState.objects.filter(node__node_id="/shared/mine.exr").exists()  # so do its states
    theirs = Node.objects.get(node_id="/shared/theirs.exr")
    assert theirs.data["comment"] == "v1" and theirs.origin == "paris"  # origin elsewhere: the pulled copy
    assert "v1" in comments_of("/shared/theirs.exr")
    assert SiteState.objects.filter(node=theirs, site="tokyo").exists()


def test_without_local_sites_a_node_made_here_keeps_a_different_origin(source, settings):
    settings.TRACKER_LOCAL_SITES = []
    tracker_services.publish("/shared/made-here.exr", origin="lima", author="bob", comment="here")
    tracker_services.publish("/shared/same-origin.exr", origin="paris", author="bob", comment="here")
    source.run("seed_site_data")
    source.run("tracker_publish", path="/shared/made-here.exr", origin="paris", comment="there")
    source.run("tracker_publish", path="/shared/same-origin.exr", origin="paris", comment="there")

    client_for(source).sync("tracker")

    assert Node.objects.get(node_id="/shared/made-here.exr").data["comment"] == "here"
    assert Node.objects.get(node_id="/shared/same-origin.exr").data["comment"] == "there"


def test_hosts_of_this_sites_accounts_stay_and_the_sources_are_mirrored(source):
    local_account = Account.objects.create(name="local-cmdb", type="json")
    mine = Host.get_host("web0.example.com")  # also a host of the source, owned there by its account "cmdb"
    mine.update_host({"role": "local"})
    mine.account = local_account
    mine.save()
    locked = Host.get_host("web2.example.com")  # a locked host: no other account may take it
    locked.update_host({"role": "pinned"})
    locked.locked = True
    locked.save()
    Host.get_host("solo.example.com").save()  # only here
    hosts_services.write_log("local run", "here", [("hosts", 1)])
    source.run("seed_site_data")
    client = client_for(source)

    client.sync("hosts", clean=True)

    web0 = Host.objects.get(hostname="web0.example.com")
    assert web0.labels["role"] == "local" and web0.account == local_account
    web2 = Host.objects.get(hostname="web2.example.com")
    assert web2.labels["role"] == "pinned" and web2.account is None
    for name in ("web1.example.com", "web3.example.com", "web4.example.com"):
        host = Host.objects.get(hostname=name)
        assert host.labels["role"] == "web" and host.account.name == "cmdb"
    assert Host.objects.filter(hostname="solo.example.com").exists()
    assert sorted(LogEntry.objects.values_list("name", flat=True)) == ["import", "local run"]
    assert Account.objects.get(name="cmdb").custom_fields.get().value == ";"

    counts = scenarios.site_counts()
    client.sync("hosts", clean=True)  # rows without a natural key (log, rules) are found again through the map
    assert scenarios.site_counts() == counts

    source.run("delete_host", name="web3.example.com")
    result = client.sync("hosts", clean=True)
    assert result.deleted == 1
    assert not Host.objects.filter(hostname="web3.example.com").exists()
    assert Host.objects.filter(hostname="solo.example.com").exists()
    assert Host.objects.get(hostname="web0.example.com").account == local_account


def test_a_stock_client_still_loads_the_site_routes(source):
    source.run("seed_site_data")
    for label in ("hosts", "tracker"):
        response = requests.get(source.url(f"sync/{label}"), auth=(source.token, ""), timeout=30)
        assert response.status_code == 200
        for obj in serializers.deserialize("json", response.content):
            obj.save()
    assert scenarios.site_snapshot() == source.run("site_snapshot")


def test_rows_pulled_before_rows_were_mapped_are_adopted_not_doubled(source):
    source.run("seed_site_data")
    # What an earlier pull (by id, before this version) left: the same rows with the same ids, and its state.
    response = requests.get(source.url("sync/hosts"), auth=(source.token, ""), timeout=30)
    for obj in serializers.deserialize("json", response.content):
        obj.save()
    SyncState.objects.create(url=source.url("sync/hosts"), adopt_by_pk=True)
    counts = scenarios.site_counts()

    client_for(source).sync("hosts", clean=True)

    assert scenarios.site_counts() == counts
    hosts_rows = [row for row in source.run("site_snapshot") if row["model"].startswith("hosts.")]
    assert [row for row in scenarios.site_snapshot() if row["model"].startswith("hosts.")] == hosts_rows
    state = SyncState.objects.get(url=source.url("sync/hosts"))
    assert not state.adopt_by_pk
    assert PulledRow.objects.filter(state=state, model="hosts.logentry").count() == 1


def test_rows_without_natural_keys_made_here_keep_their_ids_through_pulls_and_deletions(source):
    source.run("seed_library", authors=2, books_per_author=1)
    first_remote = min(row["pk"] for row in source.run("snapshot") if row["model"] == "synctools_testapp.author")
    Author.objects.create(pk=first_remote, name="local author")  # made here, with the id of a source row
    client = Client(api_token=source.token, api_url=source.url("test/sync/"))

    client.sync("library", incremental=True)

    assert Author.objects.get(pk=first_remote).name == "local author"
    pulled = Author.objects.get(name="author 0")
    assert pulled.pk != first_remote
    assert Book.objects.get(title="book 0.0").author == pulled  # references follow the row to its new id
    assert Author.objects.get(name="author 1").mentor == pulled  # also within one batch (self reference)

    source.run("delete_authors", name="author 0")
    second = client.sync("library", incremental=True)

    assert second.incremental and second.deleted >= 2  # the author and its book, by their tombstones
    assert not Author.objects.filter(name="author 0").exists()
    assert not Book.objects.filter(title="book 0.0").exists()
    assert Author.objects.get(pk=first_remote).name == "local author"
    assert Author.objects.get(name="author 1").mentor is None
