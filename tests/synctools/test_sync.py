"""Two real sites: the source (gunicorn, own database) serves Routes, this process pulls with Client."""

from __future__ import annotations

import pytest
from django.db import connection

from synctools.client import Client, SyncError
from synctools.models import SyncRun, SyncState
from tests.synctools import scenarios
from tests.synctools.testapp.models import Author, Book, Publisher, Tag

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def client_for(source) -> Client:
    return Client(api_token=source.token, api_url=source.url("test/sync/"), media_url=source.url("media/"))


def test_full_sync_replicates_fk_self_fk_m2m_and_natural_keys(source):
    source.run("seed_library", authors=4, books_per_author=3)
    # A local publisher with the same natural key but another id: it must be matched by name, not by id.
    Publisher.objects.create(name="Unrelated Local")
    Publisher.objects.create(name="South Books", city="old city")

    result = client_for(source).sync("library")

    assert result.rows == 2 + 3 + 4 + 12
    assert not result.incremental
    local = scenarios.snapshot()
    remote = source.run("snapshot")
    assert [o for o in local if o["fields"].get("name") != "Unrelated Local"] == remote
    assert Publisher.objects.get(name="South Books").city == "Lima"
    assert Author.objects.filter(mentor__isnull=False).count() == 3
    assert Book.objects.get(title="book 3.0").tags.count() == 1 + (3 % 3)
    state = SyncState.objects.get(url=source.sync_url("library"))
    assert state.last_outcome == SyncRun.SUCCESS and state.last_rows == result.rows
    assert state.runs.get().outcome == SyncRun.SUCCESS


def test_sync_is_idempotent_and_keeps_auto_now_values(source):
    source.run("seed_library", authors=2, books_per_author=2)
    client = client_for(source)
    client.sync("library")
    first = scenarios.snapshot()
    client.sync("library")
    assert scenarios.snapshot() == first == source.run("snapshot")


def test_children_before_parents_still_loads(source):
    source.run("seed_library", authors=3, books_per_author=1)
    client_for(source).sync("children-first")
    assert scenarios.snapshot() == source.run("snapshot")


def test_missing_parents_fail_and_nothing_is_applied(source):
    source.run("seed_library", authors=2, books_per_author=2)
    Tag.objects.create(name="local only")
    with pytest.raises(SyncError) as caught:
        client_for(source).sync("orphans")
    assert source.sync_url("orphans") in str(caught.value)
    assert Book.objects.count() == 0
    assert list(Tag.objects.values_list("name", flat=True)) == ["local only"]
    state = SyncState.objects.get(url=source.sync_url("orphans"))
    assert state.last_outcome == SyncRun.FAILED and "constraint" in state.last_error


def test_server_error_mid_stream_applies_nothing(source):
    total = source.run("add_tripwire", good_authors=2500)
    with pytest.raises(SyncError, match="tripwire"):
        client_for(source).sync("tripwire")
    assert total == 2500
    assert Author.objects.count() == 0
    assert Publisher.objects.count() == 0


def test_bad_token_is_refused_with_401(source):
    with pytest.raises(SyncError) as caught:
        Client(api_token="wrong", api_url=source.url("test/sync/")).sync("library")
    assert caught.value.status == 401
    assert "HTTP 401" in str(caught.value) and source.sync_url("library") in str(caught.value)


def test_url_arguments_reach_the_queryset_function(source):
    source.run("seed_library", authors=3, books_per_author=0)
    client_for(source).sync("authors/author 0")
    assert list(Author.objects.values_list("name", flat=True)) == ["author 0"]


def test_reset_sequences_on_postgres(source, require_postgres):
    source.run("seed_library", authors=3, books_per_author=2)
    client_for(source).sync("library", reset=True)
    highest = Book.objects.order_by("-pk").first().pk
    author = Author.objects.first()
    assert Book.objects.create(title="local", author=author).pk > highest


def test_without_reset_sequences_stay_behind_on_postgres(source, require_postgres):
    source.run("seed_library", authors=1, books_per_author=3)
    client_for(source).sync("library", reset=False)
    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value, is_called FROM synctools_testapp_book_id_seq")
        last_value, is_called = cursor.fetchone()
    assert not is_called or last_value < Book.objects.order_by("-pk").first().pk
