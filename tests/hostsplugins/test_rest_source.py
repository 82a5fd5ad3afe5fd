"""The generic REST source against a live local HTTP server: each auth type, each pagination style, errors."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management.base import CommandError

from .conftest import PASSWORD, REALM, TOKEN, USERNAME, SourceServer, _digest_ok, serve_http

HOSTS = [
    {"name": f"web{index:02d}.example.com", "os": "linux", "rack": str(index), "secret": "x"} for index in range(23)
]


def _handler(state: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _send(self, status: int, document: Any, **headers: str) -> None:
            data = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self, kind: str) -> bool:
            auth = self.headers.get("Authorization", "")
            if kind == "basic":
                expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
                if not secrets.compare_digest(auth, expected):
                    self._send(401, {"detail": "bad"}, WWW_Authenticate=f'Basic realm="{REALM}"')
                    return False
            elif kind == "digest":
                if not _digest_ok(state, auth, self.command):
                    nonce = secrets.token_hex(8)
                    state.nonces.add(nonce)
                    challenge = f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'
                    self._send(401, {"detail": "digest"}, WWW_Authenticate=challenge)
                    return False
            elif kind == "bearer" and not secrets.compare_digest(auth, f"Bearer {TOKEN}"):
                self._send(403, {"detail": "bad token"})
                return False
            return True

        def _serve(self, body: bytes = b"") -> None:
            parts = urlsplit(self.path)
            query = {key: values[0] for key, values in parse_qs(parts.query).items()}
            state.seen.append({"method": self.command, "path": self.path, "body": body.decode(),
                               "x-api-key": self.headers.get("X-Api-Key", "")})  # fmt: skip
            segments = parts.path.strip("/").split("/")
            if segments[0] == "error":
                return self._send(500, {"detail": "database is down"})
            kind, style = segments[0], segments[1] if len(segments) > 1 else "all"
            if not self._authorised(kind):
                return None
            if style == "all":
                return self._send(200, {"result": {"items": HOSTS}})
            if style == "page":
                page, size = int(query.get("page", 1)), int(query.get("per_page", 10))
                return self._send(200, {"items": HOSTS[(page - 1) * size : page * size]})
            if style == "offset":
                offset, limit = int(query.get("offset", 0)), int(query.get("limit", 10))
                return self._send(200, HOSTS[offset : offset + limit])
            if style in ("next", "link"):
                start = int(query.get("from", 0))
                chunk = HOSTS[start : start + 10]
                following = f"/{kind}/{style}?from={start + 10}" if start + 10 < len(HOSTS) else None
                if style == "next":
                    url = f"http://127.0.0.1:{state.port}{following}" if following else None
                    return self._send(200, {"data": chunk, "links": {"next": url}})
                headers = {"Link": f'<{following}>; rel="next"'} if following else {}
                return self._send(200, {"data": chunk}, **headers)
            if style == "loop":
                return self._send(200, {"data": HOSTS[:1], "next": f"/{kind}/loop"})
            if style == "elsewhere":
                return self._send(200, {"data": HOSTS[:1], "next": "http://192.0.2.1/steal"})
            return self._send(404, {"detail": "no such page"})

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    return Handler


@pytest.fixture
def rest_server() -> Iterator[SourceServer]:
    with serve_http(_handler) as state:
        yield state


def _hostnames() -> list[str]:
    from hosts.models import Host

    return sorted(Host.objects.values_list("hostname", flat=True))


EXPECTED = sorted(item["name"] for item in HOSTS)


@pytest.mark.parametrize(
    ("auth_type", "credentials"),
    [
        ("basic", {"username": USERNAME, "password": PASSWORD}),
        ("digest", {"username": USERNAME, "password": PASSWORD}),
        ("bearer", {"secrets": {"token": TOKEN}}),
        ("bearer", {"password": TOKEN}),
    ],
)
def test_each_auth_type(rest_server, make_account, run_command, auth_type, credentials):
    from hosts.models import Host

    make_account(
        "api", address=rest_server.url(f"/{auth_type}/all"), auth_type=auth_type, data_key="result.items",
        hostname_field="name", label_fields="os, rack", **credentials,
    )  # fmt: skip
    out, _ = run_command("import-rest", "--account", "api")
    assert "created 23" in out
    assert _hostnames() == EXPECTED
    assert Host.objects.get(hostname="web05.example.com").labels == {"os": "linux", "rack": "5"}


def test_wrong_credentials_fail_cleanly(rest_server, make_account, run_command):
    from hosts.models import Host, LogEntry

    make_account(
        "api", address=rest_server.url("/basic/all"), username=USERNAME, password="wrong", data_key="result.items"
    )
    with pytest.raises(CommandError, match=r"HTTP 401.*refused the credentials"):
        run_command("import-rest", "--account", "api")
    assert not Host.objects.exists()
    entry = LogEntry.objects.get(source="rest_import")
    assert entry.has_error and "wrong" not in json.dumps(entry.details)


@pytest.mark.parametrize(
    ("style", "fields"),
    [
        ("page", {"pagination": "page", "page_size": "10", "data_key": "items"}),
        ("offset", {"pagination": "offset", "page_size": "10"}),
        ("next", {"pagination": "next", "next_key": "links.next", "data_key": "data"}),
        ("link", {"pagination": "next", "data_key": "data"}),
    ],
)
def test_each_pagination_style(rest_server, make_account, run_command, style, fields):
    make_account("api", address=rest_server.url(f"/open/{style}"), hostname_field="name", **fields)
    out, _ = run_command("import-rest", "--account", "api")
    assert "created 23" in out
    assert _hostnames() == EXPECTED
    assert len(rest_server.seen) == 3  # 10 + 10 + 3 items


def test_method_body_and_headers_are_sent(rest_server, make_account, run_command):
    make_account(
        "api", address=rest_server.url("/open/all"), method="POST", body='{"query": "hosts"}',
        data_key="result.items", hostname_field="name", secrets={"headers": '{"X-Api-Key": "k-123"}'},
    )  # fmt: skip
    run_command("import-rest", "--account", "api")
    assert rest_server.seen == [
        {"method": "POST", "path": "/open/all", "body": '{"query": "hosts"}', "x-api-key": "k-123"}
    ]


def test_dry_run_writes_nothing(rest_server, make_account, run_command):
    from hosts.models import Host, LogEntry

    make_account("api", address=rest_server.url("/open/all"), data_key="result.items", hostname_field="name")
    out, _ = run_command("import-rest", "--account", "api", "--dry-run")
    assert out.startswith("dry run: created 23")
    assert not Host.objects.exists() and not LogEntry.objects.exists()


def test_inventorize(rest_server, make_account, run_command):
    from hosts.models import Host

    make_account("api", address=rest_server.url("/open/all"), data_key="result.items", hostname_field="name")
    Host.objects.create(hostname="web01.example.com")
    run_command("inventorize-rest", "--account", "api", "--label-fields", "os")
    assert Host.objects.get(hostname="web01.example.com").inventory == {"api__os": "linux"}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/error", r"HTTP 500.*database is down"),
        ("/open/loop", "already read"),
        ("/open/elsewhere", "on another server; refused"),
    ],
)
def test_server_errors_and_bad_pagination(rest_server, make_account, run_command, path, message):
    from hosts.models import Host, LogEntry

    make_account("api", address=rest_server.url(path), pagination="next", data_key="data", hostname_field="name")
    with pytest.raises(CommandError, match=message):
        run_command("import-rest", "--account", "api")
    assert not Host.objects.exists()
    assert LogEntry.objects.get(source="rest_import").has_error


def test_unreachable_address(make_account, run_command, settings):
    import socket

    settings.HOSTS_HTTP_MAX_RETRIES = 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    make_account("api", address=f"http://127.0.0.1:{port}/hosts")
    with pytest.raises(CommandError, match="unreachable"):
        run_command("import-rest", "--account", "api")
