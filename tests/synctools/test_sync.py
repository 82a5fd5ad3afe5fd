"""Two real sites: the source (gunicorn, own database) serves Routes, this process pulls with Client."""

from __future__ import annotations

from pathlib import Path

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
    with pytest.raises(SyncError, match=r"the reply (broke off|is not a complete JSON array)") as caught:
        client_for(source).sync("tripwire")
    assert source.sync_url("tripwire") in str(caught.value)
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


def test_incremental_sends_changes_and_deletions_only(source):
    source.run("seed_library", authors=4, books_per_author=3)
    client = client_for(source)
    first = client.sync("library", incremental=True)  # no cursor yet: a full pull that stores one
    assert not first.incremental and first.cursor
    assert first.rows == 2 + 3 + 4 + 12

    changes = source.run("change_some")
    second = client.sync("library", incremental=True)

    assert second.incremental
    assert scenarios.snapshot() == source.run("snapshot")
    assert not Book.objects.filter(pk__in=changes["deleted_books"]).exists()
    assert Book.objects.get(pk=changes["new_book"]).title == "brand new"
    # retitled + cleared + tagged + new book, East House; not the untouched rows
    assert second.rows <= 6
    assert second.deleted >= 1 + 3 + 1  # author, its 3 books, the tag
    assert second.cursor != first.cursor

    third = client.sync("library", incremental=True)
    assert third.incremental and third.rows == 0 and third.deleted == 0
    state = SyncState.objects.get(url=source.sync_url("library"))
    assert state.cursor == third.cursor
    assert [run.incremental for run in state.runs.order_by("id")] == [True, True, True]


def test_clean_deletes_only_what_came_from_the_source(source):
    source.run("seed_library", authors=3, books_per_author=0)
    Tag.objects.create(name="local tag")  # a table the reply does not cover
    Author.objects.create(pk=100_000, name="local author")  # covered table, made here: never cleaned away
    client = client_for(source)

    client.sync("authors/author 0")
    assert Author.objects.filter(name="local author").exists()

    result = client.sync("authors/author 0", clean=True)
    assert sorted(Author.objects.values_list("name", flat=True)) == ["author 0", "local author"]
    assert list(Tag.objects.values_list("name", flat=True)) == ["local tag"]
    assert result.deleted == 0

    source.run("delete_authors", name="author 0")
    result = client.sync("authors/author 0", clean=True)  # gone from the source: it goes here too
    assert sorted(Author.objects.values_list("name", flat=True)) == ["local author"]
    assert result.deleted == 1


def test_clean_removes_rows_deleted_on_the_source(source):
    source.run("seed_library", authors=2, books_per_author=2)
    client = client_for(source)
    client.sync("library")
    victim = Book.objects.order_by("pk").first().pk
    source.run("delete_book", pk=victim)

    client.sync("library")
    assert Book.objects.filter(pk=victim).exists()  # a plain pull never deletes
    client.sync("library", clean=True)
    assert not Book.objects.filter(pk=victim).exists()
    assert scenarios.snapshot() == source.run("snapshot")


def test_images_downloads_missing_and_changed_files(source, media_root):
    source.run("seed_library", authors=1, books_per_author=2, files=True)
    client = client_for(source)
    result = client.sync("library", images=True)
    assert result.files == 4
    book = Book.objects.order_by("pk").first()
    remote_path = source.run("media_file", name=book.attachment.name)
    assert (media_root / book.attachment.name).read_bytes() == Path(remote_path).read_bytes()
    assert (media_root / book.cover.name).exists()

    again = client.sync("library", images=True)
    assert again.files == 0  # unchanged: same size, same Last-Modified

    source.run("rewrite_file", name=book.attachment.name, content="a longer, edited attachment text")
    (media_root / book.cover.name).unlink()  # missing locally
    third = client.sync("library", images=True)
    assert third.files == 2
    assert (media_root / book.attachment.name).read_text() == "a longer, edited attachment text"


def test_images_of_a_queryset(source, media_root):
    source.run("seed_library", authors=1, books_per_author=3, files=True)
    client = client_for(source)
    client.sync("library")
    assert client.images(Book.objects.filter(title="book 0.1"), "cover") == 1
    assert sorted(p.name for p in (media_root / "covers").iterdir()) == [
        f"cover-{Book.objects.get(title='book 0.1').pk}.png"
    ]


def test_missing_remote_file_names_the_url(source, media_root):
    source.run("seed_library", authors=1, books_per_author=1, files=True)
    client = client_for(source)
    client.sync("library")
    Book.objects.update(cover="covers/not-there.png")
    with pytest.raises(SyncError, match=r"covers/not-there.png: HTTP 404"):
        client.images(Book.objects.all(), "cover")


def test_connection_refused_is_a_sync_error_naming_the_url():
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/sync/nothing"
    with pytest.raises(SyncError, match="request failed") as caught:
        Client(api_token="x", retries=0, timeout=(2, 2)).sync(url)
    assert url in str(caught.value)
    assert SyncState.objects.get(url=url).last_outcome == SyncRun.FAILED


def test_site_routes_serve_hosts_and_tracker_under_sync(source):
    import requests
    from django.core import serializers

    for label in ("hosts", "tracker"):
        response = requests.get(source.url(f"sync/{label}"), auth=(source.token, ""), timeout=30)
        assert response.status_code == 200
        list(serializers.deserialize("json", response.content))
        assert requests.get(source.url(f"sync/{label}"), timeout=30).status_code == 401


def test_omitted_fields_keep_local_values_and_full_only_routes_clean_on_increments(source):
    source.run("seed_library", authors=2, books_per_author=1)
    Publisher.objects.create(name="North Press", city="local city")
    Tag.objects.create(pk=10_000, name="local only")
    client = client_for(source)

    first = client.sync("library-public", incremental=True)  # no cursor yet: a plain full pull
    assert "synctools_testapp.tripwire" not in first.models
    assert Publisher.objects.get(name="North Press").city == "local city"  # never sent, kept
    assert Publisher.objects.get(name="South Books").city == ""  # new row: the model's default
    assert Tag.objects.filter(name="local only").exists()

    source.run("delete_tag", name="poetry")
    second = client.sync("library-public", incremental=True)  # the route answers in full and says so
    assert not second.incremental
    assert not Tag.objects.filter(name="poetry").exists()  # removed at the source: the full reply cleans it
    assert Tag.objects.filter(name="local only").exists()  # made here: kept
    assert Publisher.objects.get(name="North Press").city == "local city"
