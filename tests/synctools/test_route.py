"""The Route's views in-process (Django test client): auth, errors, wire format, query counts, increments."""

from __future__ import annotations

import base64
import gzip
import json
from datetime import timedelta

import pytest
from django.core import serializers

from synctools import services, streaming
from synctools.models import ChangeRecord
from synctools.routing import Route
from tests.synctools import scenarios
from tests.synctools.testapp.models import Author, Book, Publisher, Tag

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.synctools.urls")]
TOKEN = "route-token-1"


def basic(user: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def get(client, path: str, auth: str | None = basic(TOKEN), **extra):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return client.get(path, **headers, **extra)


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.fixture(autouse=True)
def _token(settings):
    settings.SYNCTOOL_API_TOKEN = TOKEN


@pytest.mark.parametrize("auth", [basic(TOKEN), basic(TOKEN, "x"), basic("anyone", TOKEN)])
def test_token_as_user_name_or_password(client, auth):
    response = get(client, "/test/sync/library", auth=auth)
    assert response.status_code == 200
    assert json.loads(body(response)) == []


@pytest.mark.parametrize(
    "auth", [None, basic("wrong"), basic("wrong", "wrong"), "Bearer " + TOKEN, "Basic !!notbase64", basic("")]
)
def test_wrong_or_missing_credentials_get_401_with_challenge(client, auth):
    response = get(client, "/test/sync/library", auth=auth)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="synctools"'
    assert "detail" in response.json()


def test_no_token_configured_refuses_everyone(client, settings):
    settings.SYNCTOOL_API_TOKEN = ""
    assert get(client, "/test/sync/library", auth=basic("")).status_code == 401
    assert get(client, "/test/sync/library", auth=basic("", "")).status_code == 401


def test_explicit_token_beats_the_setting(rf):
    route = Route(api_token="own")
    request = rf.get("/", HTTP_AUTHORIZATION=basic("own"))
    assert route.authorized(request)
    assert not route.authorized(rf.get("/", HTTP_AUTHORIZATION=basic(TOKEN)))


def test_post_is_405_and_bad_cursor_is_400(client):
    response = client.post("/test/sync/library", HTTP_AUTHORIZATION=basic(TOKEN))
    assert response.status_code == 405 and response.json()["detail"]
    response = get(client, "/test/sync/library?since=yesterday")
    assert response.status_code == 400 and "cursor" in response.json()["detail"]


def test_body_is_django_fixture_format_in_dependency_order(client):
    scenarios.seed_library(authors=3, books_per_author=2)
    response = get(client, "/test/sync/library")
    assert response["Content-Type"] == "application/json"
    assert streaming.INCREMENTAL_HEADER not in response
    assert response[streaming.CURSOR_HEADER].isdigit()
    order = response[streaming.MODELS_HEADER].split(",")
    assert sorted(order) == sorted(f"synctools_testapp.{m}" for m in ("publisher", "tag", "tripwire", "author", "book"))
    assert order.index("synctools_testapp.publisher") < order.index("synctools_testapp.author")
    assert order.index("synctools_testapp.author") < order.index("synctools_testapp.book")
    assert order.index("synctools_testapp.tag") < order.index("synctools_testapp.book")
    content = body(response)
    objects = list(serializers.deserialize("json", content))
    assert len(objects) == 2 + 3 + 3 + 6
    data = json.loads(content)
    assert set(data[0]) == {"model", "fields"}  # natural primary key: no pk
    first_author = next(e for e in data if e["model"] == "synctools_testapp.author")
    assert first_author["fields"]["publisher"] == ["North Press"]  # natural foreign key
    assert set(data[-1]) == {"model", "pk", "fields"}
    # Same bytes as Django's own serializer would write for these rows.
    expected = serializers.serialize(
        "json",
        [o.object for o in serializers.deserialize("json", content)],
        use_natural_foreign_keys=True,
        use_natural_primary_keys=True,
    )
    assert json.loads(expected) == data


def test_queries_do_not_grow_with_rows(client, django_assert_max_num_queries, settings):
    settings.SYNCTOOLS_BATCH_SIZE = 1000
    scenarios.seed_library(authors=40, books_per_author=5)
    with django_assert_max_num_queries(16):  # 5 models, + natural FK joins and one M2M prefetch per batch
        content = body(get(client, "/test/sync/library"))
    assert len(json.loads(content)) == 2 + 3 + 40 + 200


def test_gzip_when_asked(client):
    scenarios.seed_library(authors=2, books_per_author=1)
    plain = body(get(client, "/test/sync/library"))
    response = get(client, "/test/sync/library", HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(body(response)) == plain


def test_head_answers_headers_only(client):
    response = client.head("/test/sync/library", HTTP_AUTHORIZATION=basic(TOKEN))
    assert response.status_code == 200 and response.content == b""
    assert response[streaming.CURSOR_HEADER].isdigit()


def test_incremental_reply_has_changed_rows_then_tombstones(client, settings):
    settings.SYNCTOOLS_CURSOR_OVERLAP = 0
    scenarios.seed_library(authors=2, books_per_author=2)
    cursor = get(client, "/test/sync/library")[streaming.CURSOR_HEADER]
    book = Book.objects.order_by("pk").first()
    book.title = "changed"
    book.save()
    gone = Book.objects.order_by("pk").last().pk
    Book.objects.filter(pk=gone).delete()
    Author.objects.filter(publisher__name="South Books").update(publisher=None)  # no signal: not sent
    publisher = Publisher.objects.get(name="South Books")
    publisher_pk = publisher.pk
    publisher.delete()

    response = get(client, f"/test/sync/library?since={cursor}")
    assert response[streaming.INCREMENTAL_HEADER] == "1"
    data = json.loads(body(response))
    assert [(e["model"], e.get("pk")) for e in data] == [
        ("synctools_testapp.book", book.pk),
        (streaming.TOMBSTONE_MODEL, gone),
        (streaming.TOMBSTONE_MODEL, publisher_pk),
    ]
    assert data[0]["fields"]["title"] == "changed"
    assert data[1]["fields"] == {"model": "synctools_testapp.book"}
    assert data[2]["fields"] == {"model": "synctools_testapp.publisher", "natural_key": ["South Books"]}
    assert int(response[streaming.CURSOR_HEADER]) > int(cursor)


def test_m2m_changes_from_either_side_are_recorded():
    scenarios.seed_library(authors=1, books_per_author=1)
    book = Book.objects.get()
    tag = Tag.objects.get(name="science")
    start = int(services.current_cursor())
    tag.books.add(book)  # reverse side
    assert set(services.changes_since(Book, start, 10**9)) == {str(book.pk)}
    middle = int(services.current_cursor())
    tag.books.clear()
    assert set(services.changes_since(Book, middle, 10**9)) == {str(book.pk)}
    end = int(services.current_cursor())
    book.tags.remove(*Tag.objects.all())  # forward side
    assert set(services.changes_since(Book, end, 10**9)) == {str(book.pk)}


def test_overlap_resends_recent_changes(settings):
    scenarios.seed_library(authors=1, books_per_author=1)
    book = Book.objects.get()
    book.save()
    Tag.objects.first().save()
    cursor = int(services.current_cursor())
    settings.SYNCTOOLS_CURSOR_OVERLAP = 0
    assert services.changes_since(Book, cursor, cursor) == {}
    settings.SYNCTOOLS_CURSOR_OVERLAP = 60
    assert str(book.pk) in services.changes_since(Book, cursor, cursor)
    cursor_time = ChangeRecord.objects.get(id=cursor).time
    ChangeRecord.objects.exclude(id=cursor).update(time=cursor_time - timedelta(minutes=5))
    assert services.changes_since(Book, cursor, cursor) == {}


def test_site_routes_are_mounted_only_with_a_token(settings):
    from syncsite.urls import sync_urlpatterns

    try:
        settings.SYNCTOOL_API_TOKEN = ""
        assert sync_urlpatterns() == []
        settings.SYNCTOOL_API_TOKEN = "set"
        patterns = [p.pattern.regex.pattern for p in sync_urlpatterns()]
        assert patterns == ["^hosts/?$", "^tracker/?$"]
    finally:
        settings.SYNCTOOL_API_TOKEN = TOKEN


def test_client_resolves_each_natural_key_once(django_assert_max_num_queries):
    from django.db import connection, transaction

    from synctools.client import Applier

    scenarios.seed_library(authors=40, books_per_author=0)
    entries = json.loads(b"".join(streaming.serialize_stream([Publisher.objects.all(), Author.objects.all()])))
    Author.objects.all().delete()
    with django_assert_max_num_queries(12), transaction.atomic(), connection.constraint_checks_disabled():
        applier = Applier("test", using="default", clean=False)
        for entry in entries:
            applier.add(entry)
        applier.finish()
    assert Author.objects.count() == 40
    assert Author.objects.filter(publisher__name="South Books").count() == 20


def test_settings_read_the_canonical_prefix_first_then_the_alias(settings):
    from synctools import conf

    settings.SYNCTOOLS_BATCH_SIZE = 7
    assert conf.batch_size() == 7  # the alias alone
    settings.SYNCTOOL_BATCH_SIZE = 9
    assert conf.batch_size() == 9  # the canonical name wins
    del settings.SYNCTOOL_BATCH_SIZE, settings.SYNCTOOLS_BATCH_SIZE
    assert conf.batch_size() == 1000


def test_pruned_signal_records_expire_older_cursors_and_the_next_cursor_is_not_below_the_horizon(client, settings):
    settings.SYNCTOOLS_CURSOR_OVERLAP = 0
    scenarios.seed_library(authors=1, books_per_author=2)
    cursor = get(client, "/test/sync/library")[streaming.CURSOR_HEADER]
    Book.objects.order_by("pk").last().delete()  # a deletion the old cursor has not seen yet
    assert services.prune_changes(timedelta(seconds=-1)) > 0
    assert not ChangeRecord.objects.exists()

    expired = get(client, f"/test/sync/library?since={cursor}")
    assert expired.status_code == 410 and expired.headers["X-Synctools-Full-Pull-Needed"] == "1"
    full = get(client, "/test/sync/library")
    fresh = full[streaming.CURSOR_HEADER]
    assert int(fresh) >= int(cursor)  # the horizon, not 0: a cursor handed out now is not expired at once
    assert get(client, f"/test/sync/library?since={fresh}").status_code == 200
    assert services.prune_changes(timedelta(days=1)) == 0  # nothing that old: the horizon stays
