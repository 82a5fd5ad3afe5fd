"""The kernel's shared pieces that apps build on: the HTTP session factory and the staff-only-writes permission."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.contrib.auth.models import AnonymousUser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from syncsite.http import new_session
from syncsite.permissions import StaffOnlyWrites


class _Flaky(BaseHTTPRequestHandler):
    """/flaky answers 503 twice then 200; /slow answers after a second."""

    hits: dict[str, int] = {}

    def do_GET(self) -> None:
        count = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path == "/slow":
            time.sleep(1.0)
        status = 503 if self.path == "/flaky" and count <= 2 else 200
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Flaky.hits = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_session_retries_the_retry_statuses_of_idempotent_methods(server):
    session = new_session(timeout=5, retries=3, backoff_factor=0)
    response = session.get(f"{server}/flaky")
    assert response.status_code == 200 and _Flaky.hits["/flaky"] == 3
    without_retries = new_session(timeout=5, retries=0, backoff_factor=0)
    _Flaky.hits.clear()
    assert without_retries.get(f"{server}/flaky").status_code == 503


def test_session_bounds_a_request_that_names_no_timeout(server):
    session = new_session(timeout=0.2, retries=0, backoff_factor=0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(f"{server}/slow")
    assert session.get(f"{server}/slow", timeout=5).status_code == 200  # an explicit timeout wins


@pytest.mark.django_db
def test_staff_only_writes(django_user_model):
    factory = APIRequestFactory()
    user = django_user_model.objects.create_user("reader")
    staff = django_user_model.objects.create_user("staff", is_staff=True)

    def allowed(method: str, who) -> bool:
        request = Request(getattr(factory, method)("/api/v1/anything/"))
        request.user = who
        return StaffOnlyWrites().has_permission(request, None)

    assert not allowed("get", AnonymousUser())
    assert allowed("get", user) and not allowed("post", user) and not allowed("delete", user)
    assert allowed("get", staff) and allowed("post", staff)
