"""Fixtures of the hosts tests: accounts and a rule factory."""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def account(db):
    from hosts.models import Account

    acc = Account.objects.create(name="source-a", type="csv", address="/tmp/a.csv", password="s3cret-pw")
    acc.custom_fields.create(name="inventorize_key", value="inv_a")
    acc.custom_fields.create(name="delete_hosts", value="True")
    return acc


@pytest.fixture
def master_account(db):
    from hosts.models import Account

    return Account.objects.create(name="master", type="cmdb", is_master=True)


@pytest.fixture
def make_rule(db):
    """make_rule("custom"|"rewrite"|"filter", conditions=[{...}], outcomes=[{...}], **rule_fields)."""
    from hosts import models

    kinds = {
        "custom": (models.CustomAttributeRule, models.CustomAttributeCondition, models.CustomAttributeOutcome),
        "rewrite": (models.RewriteRule, models.RewriteCondition, models.RewriteOutcome),
        "filter": (models.FilterRule, models.FilterCondition, models.FilterOutcome),
    }

    def make(kind: str, conditions: list[dict[str, Any]] = (), outcomes: list[dict[str, Any]] = (), **fields):
        rule_model, condition_model, outcome_model = kinds[kind]
        fields.setdefault("name", f"{kind} rule")
        rule = rule_model.objects.create(**fields)
        for position, cond in enumerate(conditions):
            condition_model.objects.create(rule=rule, position=position, **cond)
        for position, out in enumerate(outcomes):
            outcome_model.objects.create(rule=rule, position=position, **out)
        return rule

    return make


HOST_FEED = [
    {"name": "Web01.Example.com", "Operating System": "Linux", "site": "dc1", "serial": "S-1"},
    {"name": "web02.example.com", "Operating System": "Linux", "site": "dc2", "serial": "S-2"},
    {"name": "db01.example.com", "Operating System": "BSD", "site": "dc1", "serial": "S-3"},
    {"name": "", "Operating System": "none"},
]


class _Recorder:
    def __init__(self):
        self.requests: list[dict[str, Any]] = []
        self.flaky_failures = 2


@pytest.fixture
def http_server():
    """A real HTTP server on loopback that records what it receives.

    Paths: /ok (200 JSON), /flaky (503 twice, then 200), /slow (answers after 1 s), /hosts (HOST_FEED),
    anything else 404.
    """
    import json
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from tests.conftest import free_port

    recorder = _Recorder()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            recorder.requests.append(
                {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
            )
            status, payload = 200, {"ok": True, "token": "server-token"}
            if self.path.startswith("/flaky") and recorder.flaky_failures > 0:
                recorder.flaky_failures -= 1
                status, payload = 503, {"detail": "try again"}
            elif self.path.startswith("/slow"):
                time.sleep(1.0)
            elif self.path.startswith("/hosts"):
                payload = HOST_FEED
            elif not (self.path.startswith("/ok") or self.path.startswith("/flaky")):
                status, payload = 404, {"detail": "not found"}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{port}"
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


PLUGINS_DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def doc_plugin_source(marker: str) -> str:
    """The Python block that follows `<!-- marker -->` in docs/plugins.md."""
    match = re.search(rf"<!-- {marker} -->\n```python\n(.*?)\n```", PLUGINS_DOC.read_text(), re.DOTALL)
    assert match, f"docs/plugins.md lost its {marker} block"
    return match.group(1)


@contextmanager
def loaded_plugin(source: str, module: str, directory: Path, monkeypatch, settings, *, cronjob_names=(), commands=()):
    """Load `source` as plugin module `module` through SYNCSITE_PLUGINS; unregister what it added afterwards."""
    from hosts import cronjobs, discovery
    from hosts.cli import cli

    (directory / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(directory))
    settings.SYNCSITE_PLUGINS = [module]
    discovery.discover_plugins()
    try:
        yield sys.modules[module]
    finally:
        for name in cronjob_names:
            cronjobs.unregister_cronjob(name)
        for name in commands:
            cli.remove(name)
        discovery._loaded.remove(module)
        sys.modules.pop(module, None)
