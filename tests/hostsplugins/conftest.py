"""Fixtures of the hosts import/export plugin tests.

`source_server` is a real HTTP server (stdlib `http.server` in a thread on a free loopback port) that
serves JSON host documents behind no auth, basic, digest and bearer-token auth, plus failing endpoints.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

USERNAME = "importer"
PASSWORD = "s3cret-pass"
TOKEN = "tok-0123456789abcdef"
REALM = "hosts-source"


@dataclass
class SourceServer:
    """What the server serves and what it saw; tests change `documents` before requesting."""

    port: int
    documents: dict[str, Any] = field(default_factory=dict)
    seen: list[dict[str, str]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - HTTP digest auth (RFC 2617) is MD5


def _digest_ok(server: SourceServer, header: str, method: str) -> bool:
    if not header.lower().startswith("digest "):
        return False
    fields: dict[str, str] = {}
    for part in header[7:].split(","):
        key, _, value = part.strip().partition("=")
        fields[key] = value.strip('"')
    if fields.get("nonce") not in server.nonces or fields.get("username") != USERNAME:
        return False
    ha1 = _md5(f"{USERNAME}:{REALM}:{PASSWORD}")
    ha2 = _md5(f"{method}:{fields.get('uri', '')}")
    expected = _md5(f"{ha1}:{fields['nonce']}:{fields.get('nc')}:{fields.get('cnonce')}:{fields.get('qop')}:{ha2}")
    return secrets.compare_digest(expected, fields.get("response", ""))


def _handler(server: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            return

        def _send(self, status: int, body: bytes | str, content_type: str = "application/json", **headers: str):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            auth = self.headers.get("Authorization", "")
            server.seen.append({"path": self.path, "authorization": auth})
            path = self.path.split("?")[0]
            if path == "/error":
                return self._send(500, "internal error: database is down", "text/plain")
            if path == "/not-json":
                return self._send(200, "<html>hello</html>", "text/html")
            kind, _, name = path.strip("/").partition("/")
            if kind == "basic":
                expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
                if not secrets.compare_digest(auth, expected):
                    return self._send(401, '{"detail": "bad credentials"}', WWW_Authenticate=f'Basic realm="{REALM}"')
            elif kind == "digest":
                if not _digest_ok(server, auth, "GET"):
                    nonce = secrets.token_hex(8)
                    server.nonces.add(nonce)
                    challenge = f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", algorithm=MD5'
                    return self._send(401, '{"detail": "digest required"}', WWW_Authenticate=challenge)
            elif kind == "token":
                if not secrets.compare_digest(auth, f"Bearer {TOKEN}"):
                    return self._send(403, '{"detail": "bad token"}')
            elif kind == "open":
                pass
            else:
                return self._send(404, '{"detail": "not found"}')
            if name not in server.documents:
                return self._send(404, '{"detail": "no such document"}')
            document = server.documents[name]
            body = document if isinstance(document, str) else json.dumps(document)
            return self._send(200, body)

    return Handler


@contextlib.contextmanager
def serve_http(handler: Callable[[SourceServer], type[BaseHTTPRequestHandler]]) -> Iterator[SourceServer]:
    """A threading HTTP server on a free loopback port with `handler(state)`'s request handler, stopped at exit."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    state = SourceServer(port=httpd.server_address[1])
    httpd.RequestHandlerClass = handler(state)
    thread = threading.Thread(target=httpd.serve_forever, name="source-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture
def source_server() -> Iterator[SourceServer]:
    with serve_http(_handler) as state:
        yield state


@pytest.fixture
def make_account(db):
    """make_account(name, address=..., is_master=False, password="", username="", secrets={}, **custom_fields).

    `secrets` are custom fields marked secret (stored encrypted, never shown).
    """
    from hosts.models import Account

    def make(
        name: str = "src",
        *,
        address: str = "",
        is_master: bool = False,
        username: str = "",
        password: str = "",
        secrets: dict | None = None,
        **fields,
    ):
        account = Account.objects.create(
            name=name, type="import", address=address, is_master=is_master, username=username, password=password
        )
        for key, value in fields.items():
            account.custom_fields.create(name=key, value=str(value))
        for key, value in (secrets or {}).items():
            account.custom_fields.create(name=key, value=str(value), secret=True)
        return account

    return make


@pytest.fixture
def run_command():
    """run_command("import-csv", "--account", "x") -> (stdout, stderr); CommandError propagates."""
    import io

    from django.core.management import call_command

    def run(*args: str) -> tuple[str, str]:
        out, err = io.StringIO(), io.StringIO()
        call_command("hosts", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    return run
