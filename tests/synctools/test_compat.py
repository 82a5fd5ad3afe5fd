"""Wire compatibility both ways, the command, the task and the admin pages."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
import requests
from django.core import serializers
from django.core.management import CommandError, call_command
from django_q.tasks import async_task, result

from synctools.client import Client, SyncError
from synctools.models import SyncRun, SyncState
from tests.synctools import scenarios
from tests.synctools.testapp.models import Author, Book, Publisher, Tag

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


class Fixed(ThreadingHTTPServer):
    """Serves fixed bytes at every path, as a plain web server would serve a fixture file."""

    daemon_threads = True

    def __init__(self, payload: bytes, failures: int = 0) -> None:
        self.payload = payload
        self.failures = failures
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(handler):
                self.requests += 1
                if self.requests <= self.failures:
                    handler.send_response(503)
                    handler.send_header("Content-Length", "0")
                    handler.end_headers()
                    return
                handler.send_response(200)
                handler.send_header("Content-Type", "application/json")
                handler.send_header("Content-Length", str(len(self.payload)))
                handler.end_headers()
                handler.wfile.write(self.payload)

            def log_message(handler, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.server_address[1]}/fixture.json"

    def __exit__(self, *exc):
        self.shutdown()
        self.server_close()


def plain_fixture(**options) -> tuple[bytes, list]:
    """What `dumpdata` writes for the test app, made here and then removed from the database."""
    scenarios.seed_library(authors=3, books_per_author=2)
    expected = scenarios.snapshot()
    objects = [*Publisher.objects.all(), *Tag.objects.all(), *Author.objects.order_by("pk"), *Book.objects.all()]
    payload = serializers.serialize("json", objects, indent=2, **options).encode()
    scenarios.reset()
    return payload, expected


@pytest.mark.parametrize(
    "options", [{}, {"use_natural_foreign_keys": True, "use_natural_primary_keys": True}], ids=["pks", "natural"]
)
def test_plain_django_fixture_over_http_is_accepted(options):
    payload, expected = plain_fixture(**options)
    with Fixed(payload) as url:
        result_ = Client(api_token="").sync(url)
    assert result_.rows == 2 + 3 + 3 + 6
    assert scenarios.snapshot() == expected


def test_transient_server_errors_are_retried():
    payload, expected = plain_fixture()
    server = Fixed(payload, failures=2)
    with server as url:
        Client(api_token="", retries=3).sync(url)
    assert server.requests == 3
    assert scenarios.snapshot() == expected
    with Fixed(payload, failures=5) as url, pytest.raises(SyncError, match="HTTP 503"):
        Client(api_token="", retries=1).sync(url)


def test_route_body_is_read_by_djangos_deserializer_like_the_original_client(source):
    source.run("seed_library", authors=3, books_per_author=2)
    response = requests.get(source.sync_url("library"), auth=(source.token, ""), timeout=30)
    assert response.status_code == 200
    for obj in serializers.deserialize("json", response.content):
        obj.save()
    assert scenarios.snapshot() == source.run("snapshot")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'[{"model": "synctools_testapp.tag", "pk": 1, "fields": {"name": "a"}}, {"model": "synctools_te', "complete"),
        (b'{"detail": "not a list"}', "not a JSON array"),
        (b'[{"model": "nope.nothing", "pk": 1, "fields": {}}]', "Invalid model identifier"),
        (b"[1, 2]", "not a Django fixture entry"),
    ],
    ids=["cut-off", "object", "unknown-model", "not-entries"],
)
def test_broken_replies_apply_nothing(payload, message):
    Tag.objects.create(name="kept")
    with Fixed(payload) as url, pytest.raises(SyncError, match=message) as caught:
        Client(api_token="").sync(url)
    assert url in str(caught.value)
    assert list(Tag.objects.values_list("name", flat=True)) == ["kept"]


def test_command_pulls_and_reports(source):
    source.run("seed_library", authors=2, books_per_author=1)
    out, err = StringIO(), StringIO()
    call_command("synctools_pull", source.sync_url("library"), "--token", source.token, stdout=out, stderr=err)
    assert "full pull, 9 rows written" in out.getvalue()
    assert err.getvalue() == ""  # the progress bar is drawn only on a terminal; logs get the summary line
    call_command(
        "synctools_pull", source.sync_url("library"), "--token", source.token, "--incremental", stdout=out, stderr=err
    )
    assert "incremental pull, 0 rows written" in out.getvalue()
    assert scenarios.snapshot() == source.run("snapshot")


def test_command_errors_name_url_and_status(source):
    with pytest.raises(CommandError, match=r"test/sync/library: HTTP 401"):
        call_command("synctools_pull", source.sync_url("library"), "--token", "bad", stdout=StringIO())


def test_relative_url_uses_the_configured_endpoint(source, settings):
    settings.SYNCTOOL_CLIENT_ENDPOINT = source.url("test/sync/")
    settings.SYNCTOOL_CLIENT_TOKEN = source.token
    source.run("seed_library", authors=1, books_per_author=1)
    call_command("synctools_pull", "library", "--clean", "--no-reset", stdout=StringIO(), stderr=StringIO())
    assert Book.objects.count() == 1


def test_task_pulls_for_schedules(source):
    source.run("seed_library", authors=2, books_per_author=2)
    task_id = async_task("synctools.tasks.pull", source.sync_url("library"), api_token=source.token)
    summary = result(task_id)
    assert summary["rows"] == 2 + 3 + 2 + 4 and summary["cursor"]
    assert scenarios.snapshot() == source.run("snapshot")


def test_admin_shows_state_and_history(source, admin_client):
    source.run("seed_library", authors=1, books_per_author=1)
    client = Client(api_token=source.token)
    client.sync(source.sync_url("library"))
    with pytest.raises(SyncError):
        Client(api_token="bad", retries=0).sync(source.sync_url("library"))
    state = SyncState.objects.get()
    assert state.runs.count() == 2 and state.last_outcome == SyncRun.FAILED
    page = admin_client.get("/admin/synctools/syncstate/")
    assert page.status_code == 200 and source.sync_url("library") in page.content.decode()
    assert admin_client.get(f"/admin/synctools/syncstate/{state.pk}/change/").status_code == 200
    history = admin_client.get(f"/admin/synctools/syncrun/?state__id__exact={state.pk}")
    assert history.status_code == 200 and "failed" in history.content.decode()
    assert admin_client.get(f"/admin/synctools/syncrun/{state.runs.first().pk}/change/").status_code == 200
