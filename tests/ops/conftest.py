"""Fixtures of the operations tests: a real SMTP server (aiosmtpd) and a live webhook receiver on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import free_port


@dataclass
class SMTPServer:
    port: int
    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    def configure(self, settings) -> None:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = self.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""


@pytest.fixture
def smtp_server(settings) -> Iterator[SMTPServer]:
    """aiosmtpd in a thread on a free loopback port; Django's SMTP backend pointed at it."""
    from aiosmtpd.controller import Controller

    server = SMTPServer(port=free_port())

    class Handler:
        async def handle_DATA(self, smtp, session, envelope):
            server.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=server.port)
    controller.start()
    server.configure(settings)
    try:
        yield server
    finally:
        controller.stop()


@dataclass
class WebhookReceiver:
    url: str
    received: list[tuple[dict, bytes, dict]] = field(default_factory=list)
    fail_next: int = 0  # answer this many requests with 503 first (to see the retries)
    attempts: int = 0


@pytest.fixture
def webhook_receiver(settings) -> Iterator[WebhookReceiver]:
    """A live HTTP server on loopback that records each POST (headers, raw body)."""
    settings.NOTIFICATIONS_WEBHOOK_BACKOFF = 0.05
    port = free_port()
    receiver = WebhookReceiver(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.attempts += 1
            if receiver.fail_next > 0:
                receiver.fail_next -= 1
                self.send_response(503)
                self.end_headers()
                return
            receiver.received.append((json.loads(body), body, dict(self.headers)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def migrated_sqlite_var(tmp_path_factory):
    """A var/ directory with a migrated SQLite database, made once per run; `fresh_var` copies it per test."""
    from tests.ops.test_backup import _env, _manage

    template = tmp_path_factory.mktemp("migrated-var")
    _manage(_env(template, None), "migrate", "--noinput", "-v", "0")
    return template


@pytest.fixture
def fresh_var(migrated_sqlite_var, tmp_path):
    """This test's own var/ (SQLite database, secret key), migrated, without running the migrations again."""
    import shutil
    import sqlite3

    target = tmp_path / "var"
    target.mkdir()
    shutil.copy2(migrated_sqlite_var / "secret_key", target / "secret_key")
    source = sqlite3.connect(migrated_sqlite_var / "syncsite.sqlite3")
    copy = sqlite3.connect(target / "syncsite.sqlite3")
    try:
        source.backup(copy)
    finally:
        source.close()
        copy.close()
    return target
